// The seed article's pattern, added by make bench-gateway to its copy of the
// example (never to the example itself): the browser's /api/... reaches this
// route handler, which forwards it to Django at INTERNAL_API_URL and streams
// the answer back. With tandem the gateway sends /api/ to Django directly;
// the benchmark measures what this hop costs.
export const dynamic = 'force-dynamic';

const INTERNAL = (process.env.INTERNAL_API_URL || 'http://api:8000').replace(/\/+$/, '');

// Headers of one connection, not of the request; fetch refuses some of them.
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'];

async function proxy(req) {
  // The path after /api, trailing slash kept: Django's URLs end with one.
  const url = INTERNAL + req.nextUrl.pathname.slice('/api'.length) + req.nextUrl.search;
  const headers = new Headers(req.headers);
  HOP.forEach((h) => headers.delete(h));
  const hasBody = !['GET', 'HEAD'].includes(req.method);
  const res = await fetch(url, {
    method: req.method,
    headers,
    body: hasBody ? req.body : undefined,
    duplex: hasBody ? 'half' : undefined,
    redirect: 'manual', // a redirect is Django's answer to the browser, not ours to follow
    cache: 'no-store', // Next 14 would otherwise cache GETs in its data cache
  });
  const out = new Headers(res.headers);
  HOP.forEach((h) => out.delete(h));
  if (out.has('content-encoding')) {
    // fetch has decoded the body: the encoding and length no longer hold.
    out.delete('content-encoding');
    out.delete('content-length');
  }
  return new Response(res.body, { status: res.status, headers: out });
}

export const GET = proxy;
export const HEAD = proxy;
export const POST = proxy;
export const PUT = proxy;
export const PATCH = proxy;
export const DELETE = proxy;
export const OPTIONS = proxy;

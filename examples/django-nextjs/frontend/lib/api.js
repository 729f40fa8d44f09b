// Server-side access to the Django API. Only server components import this.

// Read through a variable on purpose: Next.js inlines the literal
// `process.env.NEXT_PUBLIC_…` at build time, and we want the value the server
// runs with, so one build serves every preview.
const env = process.env;

// Where server-side code reaches Django: the Compose service name.
export function internalApiUrl() {
  return (env.INTERNAL_API_URL || 'http://api:8000').replace(/\/+$/, '');
}

// Where the browser reaches Django: a same-origin path the gateway routes.
export function publicApiUrl() {
  return (env.NEXT_PUBLIC_API_URL || '/api').replace(/\/+$/, '');
}

// GET an API path and unwrap the {status, data, error} envelope. Never
// throws: a page shows the error instead of failing to render.
export async function apiGet(path, { cookie, timeoutMs = 10000 } = {}) {
  const headers = { accept: 'application/json' };
  if (cookie) headers.cookie = cookie;
  let res;
  try {
    res = await fetch(internalApiUrl() + path, {
      headers,
      cache: 'no-store',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    return { ok: false, status: 0, data: null, error: `API unreachable: ${err.cause?.code || err.message}` };
  }
  const body = await res.json().catch(() => null);
  if (!body || typeof body !== 'object') {
    return { ok: false, status: res.status, data: null, error: `API answered ${res.status} without JSON` };
  }
  return {
    ok: res.ok && body.status === 'success',
    status: res.status,
    data: body.data ?? null,
    error: body.error ?? null,
  };
}

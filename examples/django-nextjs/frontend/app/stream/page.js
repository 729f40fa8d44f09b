import { Suspense } from 'react';
import { apiGet } from '../../lib/api';

export const dynamic = 'force-dynamic';

const DEFAULT_DELAY_MS = 1500;

// The shell below is sent at once; the Suspense boundary's content follows in
// the same response when SlowPart resolves. A gateway that buffers responses
// would deliver both together.
export default function StreamPage({ searchParams }) {
  const delay = clampDelay(searchParams?.delay);
  return (
    <>
      <section className="card">
        <h1>Streaming SSR</h1>
        <p id="stream-shell">{`Shell rendered at ${new Date().toISOString()}; the next part waits ${delay} ms.`}</p>
      </section>
      <Suspense fallback={<p id="stream-fallback" className="card muted">Loading the slow part…</p>}>
        <SlowPart delay={delay} />
      </Suspense>
    </>
  );
}

async function SlowPart({ delay }) {
  await new Promise((resolve) => setTimeout(resolve, delay));
  const hits = await apiGet('/search/?q=stream');
  return (
    <section className="card" id="stream-result">
      <h2>{`Arrived at ${new Date().toISOString()}`}</h2>
      {hits.ok ? (
        <ul>
          {hits.data.map((a) => (
            <li key={a.slug}>{a.title}</li>
          ))}
        </ul>
      ) : (
        <p className="error">{`Search failed: ${hits.error}`}</p>
      )}
    </section>
  );
}

function clampDelay(value) {
  const ms = Number.parseInt(value ?? '', 10);
  if (Number.isNaN(ms)) return DEFAULT_DELAY_MS;
  return Math.min(Math.max(ms, 0), 10000);
}

import { headers } from 'next/headers';
import { apiGet, internalApiUrl, publicApiUrl } from '../lib/api';
import SearchBox from '../components/search-box';
import LogoutButton from '../components/logout-button';

// Rendered on every request: the data lives in Django, not in the build.
export const dynamic = 'force-dynamic';

export default async function HomePage() {
  // The browser's cookies, so Django recognises its session during rendering.
  const cookie = headers().get('cookie') || '';
  const [articles, echo, me] = await Promise.all([
    apiGet('/articles/'),
    apiGet('/echo/'),
    cookie ? apiGet('/me/', { cookie }) : null,
  ]);
  const user = me?.ok ? me.data.user : null;
  const apiBase = publicApiUrl();

  return (
    <>
      <section className="card account" id="account">
        {user ? (
          <p>
            <span id="auth-status">{`Signed in as ${user.username}`}</span>
            <LogoutButton apiBase={apiBase} />
          </p>
        ) : (
          <p>
            <span id="auth-status">Not signed in</span>
            <a id="login-link" className="button" href="/login">Sign in</a>
          </p>
        )}
      </section>

      <section className="card">
        <h2>Search</h2>
        <p className="muted">{`The browser calls ${apiBase}/search/ on this origin; no CORS, no proxy route.`}</p>
        <SearchBox apiBase={apiBase} />
      </section>

      <section>
        <h1>Articles</h1>
        {articles.ok ? (
          <ul id="articles" className="articles">
            {articles.data.map((a) => (
              <li key={a.slug} className="article" data-slug={a.slug}>
                <h2 className="article-title"><a href={`/articles/${a.slug}`}>{a.title}</a></h2>
                <p>{a.summary}</p>
                <p className="meta">{`${a.category} · ${a.tags.join(', ')}`}</p>
              </li>
            ))}
          </ul>
        ) : (
          <p id="api-error" className="error">{`Could not load articles: ${articles.error}`}</p>
        )}
      </section>

      <section className="card diagnostics" id="ssr-diagnostics">
        <h2>Server-side rendering</h2>
        <dl>
          <dt>Rendered at</dt>
          <dd><time id="ssr-rendered-at">{new Date().toISOString()}</time></dd>
          <dt>API called from the server</dt>
          <dd><code id="ssr-api-url">{internalApiUrl()}</code></dd>
          <dt>Host header Django saw</dt>
          <dd><code id="ssr-api-host">{echo.ok ? echo.data.host : `unavailable (${echo.error})`}</code></dd>
        </dl>
      </section>
    </>
  );
}

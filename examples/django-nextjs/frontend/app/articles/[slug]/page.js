import { notFound } from 'next/navigation';
import { apiGet } from '../../../lib/api';

export const dynamic = 'force-dynamic';

export default async function ArticlePage({ params }) {
  const article = await apiGet(`/articles/${encodeURIComponent(params.slug)}/`);
  if (article.status === 404) notFound();
  if (!article.ok) {
    return <p id="api-error" className="error">{`Could not load the article: ${article.error}`}</p>;
  }
  const a = article.data;
  return (
    <article className="card" id="article" data-slug={a.slug}>
      <p><a href="/">← All articles</a></p>
      <h1 id="article-title">{a.title}</h1>
      <p className="lead">{a.summary}</p>
      <p>{a.body}</p>
      <p className="meta">{`${a.category} · ${a.tags.join(', ')} · ${a.published_at.slice(0, 10)}`}</p>
    </article>
  );
}

'use client';

import { useState } from 'react';
import { callApi } from '../lib/client-api';

export default function SearchBox({ apiBase = '/api' }) {
  const [query, setQuery] = useState('');
  const [state, setState] = useState({ phase: 'idle', results: [], error: null });

  async function onSubmit(event) {
    event.preventDefault();
    setState({ phase: 'loading', results: [], error: null });
    try {
      const results = await callApi(apiBase, `/search/?q=${encodeURIComponent(query)}`);
      setState({ phase: 'done', results, error: null });
    } catch (err) {
      setState({ phase: 'error', results: [], error: err.message });
    }
  }

  return (
    <div className="search">
      <form id="search-form" onSubmit={onSubmit} role="search">
        <input
          id="search-input"
          name="q"
          type="search"
          placeholder="Search articles, e.g. csrf"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        <button id="search-submit" type="submit" disabled={state.phase === 'loading'}>Search</button>
      </form>
      <p id="search-status" className="muted" aria-live="polite">{statusText(state)}</p>
      {state.results.length > 0 && (
        <ul id="search-results">
          {state.results.map((a) => (
            <li key={a.slug} className="search-result">
              <a href={`/articles/${a.slug}`}>{a.title}</a>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function statusText({ phase, results, error }) {
  if (phase === 'loading') return 'Searching…';
  if (phase === 'error') return `Error: ${error}`;
  if (phase === 'done') return results.length === 1 ? '1 result' : `${results.length} results`;
  return '';
}

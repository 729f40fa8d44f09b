'use client';

import { useState } from 'react';
import { csrfToken, postJson } from '../lib/client-api';

export default function LoginForm({ apiBase = '/api' }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);

  async function onSubmit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const token = await csrfToken(apiBase);
      await postJson(apiBase, '/auth/login/', token, { username, password });
      // A full navigation, so the home page renders again with the new session cookie.
      window.location.assign('/');
    } catch (err) {
      setError(err.message);
      setBusy(false);
    }
  }

  return (
    <form id="login-form" className="stack" onSubmit={onSubmit}>
      <label>
        Username
        <input id="login-username" name="username" autoComplete="username" required
          value={username} onChange={(e) => setUsername(e.target.value)} />
      </label>
      <label>
        Password
        <input id="login-password" name="password" type="password" autoComplete="current-password" required
          value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <button id="login-submit" type="submit" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      {error && <p id="login-error" className="error" role="alert">{error}</p>}
    </form>
  );
}

'use client';

import { useState } from 'react';
import { csrfToken, postJson } from '../lib/client-api';

export default function LogoutButton({ apiBase = '/api' }) {
  const [busy, setBusy] = useState(false);

  async function onClick() {
    setBusy(true);
    try {
      await postJson(apiBase, '/auth/logout/', await csrfToken(apiBase));
    } finally {
      window.location.assign('/');
    }
  }

  return (
    <button id="logout-button" type="button" className="secondary" onClick={onClick} disabled={busy}>
      Sign out
    </button>
  );
}

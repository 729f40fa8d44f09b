// Browser-side calls to the API, same origin: the gateway sends /api/ to Django.

export async function callApi(apiBase, path, init = {}) {
  const res = await fetch(apiBase + path, {
    credentials: 'same-origin',
    ...init,
    headers: { accept: 'application/json', ...(init.headers || {}) },
  });
  const body = await res.json().catch(() => null);
  if (!res.ok || !body || body.status !== 'success') {
    throw new Error(body?.error || `HTTP ${res.status}`);
  }
  return body.data;
}

// A CSRF token from Django, which also sets the csrftoken cookie it must match.
export async function csrfToken(apiBase) {
  const data = await callApi(apiBase, '/auth/csrf/');
  return data.csrfToken;
}

export function postJson(apiBase, path, token, payload) {
  return callApi(apiBase, path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrftoken': token },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
}

import LoginForm from '../../components/login-form';
import { publicApiUrl } from '../../lib/api';

// Dynamic so the API path comes from the running server's environment.
export const dynamic = 'force-dynamic';

export default function LoginPage() {
  return (
    <section className="card narrow">
      <h1>Sign in</h1>
      <p className="muted">Demo account: <code>demo</code> / <code>demo-password</code></p>
      <LoginForm apiBase={publicApiUrl()} />
    </section>
  );
}

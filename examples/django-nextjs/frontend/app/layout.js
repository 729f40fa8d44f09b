import './globals.css';

export const metadata = {
  title: 'tandem example: Django + Next.js',
  description: 'A Django REST Framework API and a Next.js frontend on one origin.',
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <header className="site-header">
          <a className="brand" href="/">tandem example</a>
          <nav>
            <a href="/">Articles</a>
            <a href="/stream">Streaming</a>
            <a href="/login">Sign in</a>
          </nav>
        </header>
        <main className="container">{children}</main>
        <footer className="site-footer">
          Pages by Next.js at <code>/</code>, data by Django REST Framework at <code>/api/</code>, one origin.
        </footer>
      </body>
    </html>
  );
}

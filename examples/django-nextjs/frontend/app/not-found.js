export default function NotFound() {
  return (
    <section className="card">
      <h1>Page not found</h1>
      <p><a href="/">Back to the articles</a></p>
    </section>
  );
}

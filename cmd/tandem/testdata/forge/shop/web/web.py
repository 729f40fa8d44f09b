import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))


class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/env":  # what the service was given, for a test to search
            body = json.dumps(dict(os.environ)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with open(os.path.join(HERE, "title.txt")) as f:
            title = f.read().strip()
        try:
            with urllib.request.urlopen(os.environ["API_URL"] + "/articles", timeout=5) as r:
                articles = json.load(r)
            items = "".join(
                "<li>%s%s</li>" % (a["title"], " [badge: %s]" % a["badge"] if "badge" in a else "")
                for a in articles
            )
        except Exception as e:  # shown, so a test says what went wrong
            items = "<li>api error: %s</li>" % e
        body = ("<h1>%s</h1><ul>%s</ul><p id=stripe>stripe: %s</p>" % (
            title, items, os.environ.get("STRIPE_KEY", ""))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", 3000), Page).serve_forever()

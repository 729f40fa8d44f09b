"""Middleware that must run before Django looks at the Host header."""
import logging
import time

from django.db import connection
from django.http import HttpResponse

log = logging.getLogger("app.requests")

HEALTHZ = ("/healthz", "/healthz/")


def healthz(get_response):
    """Answer health checks whatever the Host header says.

    Health checks call 127.0.0.1:8000, which ALLOWED_HOSTS rightly refuses;
    answering here, before CommonMiddleware validates the host, keeps the
    allow-list strict for everything else. Unhealthy means no database.
    """

    def middleware(request):
        if request.path not in HEALTHZ:
            return get_response(request)
        try:
            with connection.cursor() as cursor:  # a query, so a dropped connection counts
                cursor.execute("SELECT 1")
        except Exception as exc:  # any driver error means "not ready"
            return HttpResponse("database unavailable: %s\n" % exc.__class__.__name__,
                                status=503, content_type="text/plain")
        return HttpResponse("ok\n", content_type="text/plain")

    return middleware


def request_log(get_response):
    """One stdout line per request with the Host header exactly as received,
    so what the gateway forwarded can be read from the service's output."""

    def middleware(request):
        start = time.monotonic()
        response = get_response(request)
        meta = request.META
        fields = [
            "request",
            "host=%s" % (meta.get("HTTP_HOST") or "-"),
            "method=%s" % request.method,
            "path=%s" % request.path,
            "status=%d" % response.status_code,
            "ms=%.1f" % ((time.monotonic() - start) * 1000),
        ]
        if meta.get("QUERY_STRING"):
            fields.append("query=%s" % meta["QUERY_STRING"])
        if meta.get("HTTP_X_FORWARDED_FOR"):
            fields.append("xff=%s" % meta["HTTP_X_FORWARDED_FOR"])
        log.info(" ".join(fields))
        return response

    return middleware

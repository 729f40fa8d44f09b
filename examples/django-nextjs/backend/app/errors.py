"""The JSON envelope on every error, whoever raises it: DRF views, Django's
URL resolver (404), host validation (400), CSRF (403) and crashes (500).

The gateway answers in the same shape when the API cannot (errors: json).
"""
from django.core.exceptions import DisallowedHost
from django.http import JsonResponse
from rest_framework.views import exception_handler as drf_exception_handler


def error_body(message, data=None):
    return {"status": "error", "data": data, "error": message}


def error_response(message, status):
    # Compact separators, as DRF renders its JSON.
    return JsonResponse(error_body(message), status=status,
                        json_dumps_params={"separators": (",", ":")})


def message_of(detail):
    """A readable sentence from DRF's error detail (str, list or dict)."""
    if isinstance(detail, dict):
        if set(detail) == {"detail"}:
            return message_of(detail["detail"])
        parts = []
        for field, value in detail.items():
            text = message_of(value)
            parts.append(text if field in ("detail", "non_field_errors") else "%s: %s" % (field, text))
        return " ".join(parts)
    if isinstance(detail, (list, tuple)):
        return " ".join(message_of(item) for item in detail)
    return str(detail)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unhandled: Django's handler500 answers
    response.data = error_body(message_of(response.data))
    return response


def bad_request(request, exception=None):
    if isinstance(exception, DisallowedHost):
        host = request.META.get("HTTP_HOST", "")
        return error_response("Host not allowed: %s" % host, 400)
    return error_response("Bad request.", 400)


def permission_denied(request, exception=None):
    return error_response("Permission denied.", 403)


def not_found(request, exception=None):
    return error_response("Not found: %s" % request.path, 404)


def server_error(request):
    return error_response("Internal server error.", 500)


def csrf_failure(request, reason=""):
    return error_response("CSRF failed: %s" % reason, 403)

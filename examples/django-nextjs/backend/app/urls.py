"""The API lives at Django's root: the gateway strips /api/, so the browser's
/api/articles/ arrives here as /articles/ and Next.js calls api:8000/articles/."""
from django.urls import include, path

urlpatterns = [
    path("", include("catalog.urls")),
]

handler400 = "app.errors.bad_request"
handler403 = "app.errors.permission_denied"
handler404 = "app.errors.not_found"
handler500 = "app.errors.server_error"

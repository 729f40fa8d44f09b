"""Settings for the example API. Everything that differs between a laptop, a
preview and production comes from the environment (see docker-compose.yml)."""
import os
from pathlib import Path

from app import env

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-secret-key-change-me")
DEBUG = env.flag("DEBUG")

# Written as the preview article writes them: comma-separated lists from
# the stack file. PREVIEW_HOST is a bare host name ("localhost", the
# preview's hostname), which is what Django compares ALLOWED_HOSTS with; the
# gateway keeps the browser's Host; Next.js calls us as "api:8000".
# Unset means "running by hand": accept the usual local names.
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
# Full origins (PREVIEW_URL: "http://localhost:8080"). Django 4 wants the
# scheme; Django 3.2 trusts the request's own host anyway.
CSRF_TRUSTED_ORIGINS = env.split(os.environ.get("CSRF_TRUSTED_ORIGINS", ""))

# Browsers reach us through the gateway on their own origin, so CORS never
# applies to them; this is for other origins calling the API directly.
CORS_ALLOWED_ORIGINS = env.split(os.environ.get("CORS_ALLOWED_ORIGINS", ""))
CORS_ALLOW_CREDENTIALS = True

# Host arrives untouched, so X-Forwarded-Host is not needed (and not trusted).
USE_X_FORWARDED_HOST = False
# The gateway terminates TLS and says so.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.flag("SESSION_COOKIE_SECURE")
CSRF_COOKIE_SECURE = env.flag("CSRF_COOKIE_SECURE")

# Behind a prefix-stripping gateway a slash redirect would point at "/x/"
# on the browser's origin, which is the frontend, not us. Answer 404 instead.
APPEND_SLASH = False

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "catalog",
]

MIDDLEWARE = [
    "app.middleware.healthz",  # before anything that checks the Host header
    "app.middleware.request_log",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"
CSRF_FAILURE_VIEW = "app.errors.csrf_failure"

TEMPLATES = []

DATABASES = {"default": env.database(os.environ.get("DATABASE_URL"), BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "app.errors.exception_handler",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {
        "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"},
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "app.requests": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
        "django": {"handlers": ["stderr"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
    },
}

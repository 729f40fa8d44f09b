"""Reading settings from the environment, with the standard library only.

Flags, comma-separated lists and DATABASE_URL, the way twelve-factor apps
read them.
"""
import os
from urllib.parse import parse_qsl, unquote, urlsplit

TRUE = {"1", "true", "yes", "on"}


def flag(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in TRUE


def split(value):
    """Comma-separated list, blanks dropped."""
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def database(url, base_dir):
    """DATABASES["default"] from a DATABASE_URL.

    postgres://user:password@host:5432/name?sslmode=require
    sqlite:///relative/path.db, sqlite:////absolute/path.db
    """
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.path.join(base_dir, "db.sqlite3"),
        }
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("/"):
            path = path[1:]  # sqlite:///x.db is relative, sqlite:////x.db absolute
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path if os.path.isabs(path) else os.path.join(base_dir, path or "db.sqlite3"),
        }
    if scheme not in ("postgres", "postgresql", "pgsql"):
        raise ValueError("DATABASE_URL: unsupported scheme %r" % parts.scheme)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
        "CONN_MAX_AGE": int(os.environ.get("CONN_MAX_AGE", "60")),
    }

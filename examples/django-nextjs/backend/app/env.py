"""Reading settings from the environment, with the standard library only.

The stack file injects hosts and origins per preview (PREVIEW_HOST is
"localhost:8080" locally, "pr-7.previews.example.com" in a preview), so these
helpers accept what a person would naturally write and turn it into what the
running Django version expects.
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


def hosts(value):
    """ALLOWED_HOSTS entries without ports or schemes.

    Django compares the Host header's domain without its port, so an entry
    like "localhost:8080" would never match; "http://x" is a common slip.
    """
    out = []
    for entry in split(value):
        if "://" in entry:
            entry = urlsplit(entry).netloc
        if entry.startswith("["):  # [::1]:8080
            entry = entry[: entry.index("]") + 1]
        elif entry.count(":") == 1:
            entry = entry.split(":", 1)[0]
        if entry and entry not in out:
            out.append(entry)
    return out


def trusted_origins(value, django_version):
    """CSRF_TRUSTED_ORIGINS for the running Django.

    Django 4 and later want "scheme://host[:port]"; Django 3.2 wants the bare
    host[:port] it compares with the Referer's netloc.
    """
    out = []
    for entry in split(value):
        if django_version >= (4, 0):
            candidates = [entry] if "://" in entry else ["https://" + entry, "http://" + entry]
        else:
            candidates = [urlsplit(entry).netloc if "://" in entry else entry]
        for origin in candidates:
            if origin and origin not in out:
                out.append(origin)
    return out


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

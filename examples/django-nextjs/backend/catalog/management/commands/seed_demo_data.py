"""Idempotent demo data: running it again changes nothing.

Rows are looked up by a natural key (slug, username) and only written when
they differ from what is below, so a preview can run it on every start.
"""
from datetime import datetime, timezone

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from catalog.models import Article

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


def at(day, hour=9):
    return datetime(2026, 3, day, hour, 0, tzinfo=timezone.utc)


ARTICLES = [
    {
        "slug": "one-origin-for-two-servers",
        "title": "One Origin for Two Servers",
        "summary": "A gateway in front of Django and Next.js makes the browser see a single site.",
        "body": "When every request goes to the same scheme, host and port, the browser never "
        "asks for CORS permission and sends the same cookies to pages and to the API. "
        "The gateway decides by path which server answers.",
        "category": "architecture",
        "tags": "gateway,cors,cookies",
        "published_at": at(2),
    },
    {
        "slug": "stripping-the-api-prefix",
        "title": "Stripping the API Prefix",
        "summary": "The browser asks for /api/articles/; Django serves /articles/.",
        "body": "Removing the prefix at the edge lets the API keep clean URLs while the "
        "frontend owns everything else. Redirects that add a trailing slash are turned "
        "off, because a relative Location would land on the frontend.",
        "category": "architecture",
        "tags": "gateway,routing",
        "published_at": at(5),
    },
    {
        "slug": "session-cookies-that-just-work",
        "title": "Session Cookies That Just Work",
        "summary": "Same-origin requests carry the sessionid cookie without SameSite tricks.",
        "body": "A session created by a login on /api/auth/login/ is visible to server "
        "rendering too: Next.js forwards the Cookie header when it calls Django, so "
        "the page knows who is signed in.",
        "category": "auth",
        "tags": "sessions,cookies",
        "published_at": at(9),
    },
    {
        "slug": "csrf-behind-a-gateway",
        "title": "CSRF Behind a Gateway",
        "summary": "The csrftoken cookie and the X-CSRFToken header survive the trip through the edge.",
        "body": "Because the Host header is preserved, Django compares the Origin and "
        "Referer of a login form with the host the browser used. Trusted origins come "
        "from the preview's URL.",
        "category": "auth",
        "tags": "csrf,security",
        "published_at": at(12),
    },
    {
        "slug": "server-components-call-the-api-by-name",
        "title": "Server Components Call the API by Name",
        "summary": "During rendering, Next.js reaches Django at api:8000, not through the browser's URL.",
        "body": "INTERNAL_API_URL points server-side code at the service name, which is why "
        "ALLOWED_HOSTS must list api next to the public host. NEXT_PUBLIC_API_URL stays "
        "a relative /api for the browser.",
        "category": "rendering",
        "tags": "nextjs,ssr,hosts",
        "published_at": at(16),
    },
    {
        "slug": "streaming-html-through-the-edge",
        "title": "Streaming HTML Through the Edge",
        "summary": "Suspense boundaries flush the page shell first and the slow part later.",
        "body": "A proxy that buffers whole responses hides streaming. The shell should "
        "reach the browser at once and the delayed section arrive when its data does.",
        "category": "rendering",
        "tags": "nextjs,streaming,suspense",
        "published_at": at(19),
    },
    {
        "slug": "seeding-twice-changes-nothing",
        "title": "Seeding Twice Changes Nothing",
        "summary": "Demo data keyed by slug and username can be applied on every start.",
        "body": "Looking rows up by a natural key and writing only what differs keeps the "
        "seed command safe to repeat, so an entrypoint can run it unconditionally and a "
        "snapshot of the seeded database stays valid.",
        "category": "data",
        "tags": "seeding,postgres",
        "published_at": at(23),
    },
    {
        "slug": "tokens-for-scripts-and-phones",
        "title": "Tokens for Scripts and Phones",
        "summary": "Non-browser clients authenticate with an Authorization: Token header.",
        "body": "POST a username and password to /api/auth/token/ and send the key back "
        "as Authorization: Token <key>. The gateway passes the header through untouched.",
        "category": "auth",
        "tags": "tokens,api",
        "published_at": at(27),
    },
]


class Command(BaseCommand):
    help = "Create or update the demo articles and the demo user (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for spec in ARTICLES:
            fields = {k: v for k, v in spec.items() if k != "slug"}
            article, created = Article.objects.get_or_create(slug=spec["slug"], defaults=fields)
            if created:
                counts["created"] += 1
                continue
            changed = [k for k, v in fields.items() if getattr(article, k) != v]
            if changed:
                for k in changed:
                    setattr(article, k, fields[k])
                article.save(update_fields=changed)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        self.stdout.write(
            "seed_demo_data: articles created=%(created)d updated=%(updated)d unchanged=%(unchanged)d"
            % counts
        )
        self.stdout.write("seed_demo_data: user %s %s" % (DEMO_USERNAME, self.seed_user()))

    def seed_user(self):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USERNAME,
            defaults={"first_name": "Demo", "last_name": "User", "email": "demo@example.com"},
        )
        # set_password salts afresh each time, so only set it when it is wrong.
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save()
            return "created" if created else "password reset"
        return "unchanged"

from django.contrib.auth import authenticate, login, logout
from django.db.models import Q
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Article
from catalog.serializers import ArticleDetailSerializer, ArticleSerializer, UserSerializer

SEARCH_LIMIT = 20


def ok(data, status=200):
    return Response({"status": "success", "data": data, "error": None}, status=status)


def fail(message, status):
    return Response({"status": "error", "data": None, "error": message}, status=status)


class ArticleList(APIView):
    def get(self, request):
        articles = Article.objects.all()
        category = request.query_params.get("category")
        if category:
            articles = articles.filter(category=category)
        return ok(ArticleSerializer(articles, many=True).data)


class ArticleDetail(APIView):
    def get(self, request, slug):
        return ok(ArticleDetailSerializer(get_object_or_404(Article, slug=slug)).data)


class Search(APIView):
    def get(self, request):
        q = request.query_params.get("q", "").strip()
        if not q:
            return fail("Query parameter 'q' is required.", 400)
        hits = Article.objects.filter(
            Q(title__icontains=q) | Q(summary__icontains=q) | Q(body__icontains=q)
        )[:SEARCH_LIMIT]
        return ok(ArticleSerializer(hits, many=True).data)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class Csrf(APIView):
    """Sets the csrftoken cookie; the token is also in the body for clients
    that cannot read cookies."""

    authentication_classes = []

    def get(self, request):
        return ok({"csrfToken": get_token(request)})


class Login(APIView):
    """Session login for the browser. CSRF is checked even though nobody is
    signed in yet (DRF alone only checks it for authenticated sessions)."""

    authentication_classes = []

    def post(self, request):
        SessionAuthentication().enforce_csrf(request)
        username = request.data.get("username") if hasattr(request.data, "get") else None
        password = request.data.get("password") if hasattr(request.data, "get") else None
        if not username or not password:
            return fail("username and password are required.", 400)
        user = authenticate(request, username=username, password=password)
        if user is None:
            return fail("Invalid username or password.", 400)
        login(request, user)
        # login() rotates the CSRF token; hand the new one back.
        return ok({"user": UserSerializer(user).data, "csrfToken": get_token(request)})


class Logout(APIView):
    authentication_classes = [SessionAuthentication]  # enforces CSRF for a signed-in session

    def post(self, request):
        logout(request)
        return ok(None)


class ObtainToken(ObtainAuthToken):
    """DRF token for non-browser clients: POST {username, password}."""

    authentication_classes = []

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        token, _ = Token.objects.get_or_create(user=user)
        return ok({"token": token.key, "user": UserSerializer(user).data})


class Me(APIView):
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        auth = "token" if isinstance(request.successful_authenticator, TokenAuthentication) else "session"
        return ok({"user": UserSerializer(request.user).data, "auth": auth})


ECHO_HEADERS = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-prefix",
    "x-real-ip",
    "x-request-id",
]


class Echo(APIView):
    """What Django saw of this request, for checking what a proxy forwards.
    Side-effect free, so no authentication and no CSRF."""

    authentication_classes = []

    def get(self, request):
        return ok(echo(request))

    post = put = patch = delete = get


def echo(request):
    meta = request.META
    return {
        "host": request.get_host(),
        "path": request.path,
        "query": meta.get("QUERY_STRING", ""),
        "method": request.method,
        "scheme": request.scheme,
        "secure": request.is_secure(),
        "remote_addr": meta.get("REMOTE_ADDR"),
        "headers": {name: request.headers.get(name) for name in ECHO_HEADERS},
        "authorization": "HTTP_AUTHORIZATION" in meta,
        "cookie": "HTTP_COOKIE" in meta,
        "cookie_names": sorted(request.COOKIES),
        # Headers of tandem's own (X-Tandem-*): a gateway must never pass a
        # client's on, nor the bypass header it checked.
        "tandem_headers": sorted(k.lower() for k in request.headers if k.lower().startswith("x-tandem")),
        "body_bytes": len(request.body),
    }

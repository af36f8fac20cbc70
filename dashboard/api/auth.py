"""Who is asking (a bearer token), may they (its role), and how often (a budget per token).

No token: 401. A read token on a write: 403. A token never outlives its creator's access: the
creator's account switched off or left without a role stops the token, and a write token whose
creator is no longer an admin only reads; with BOTWATCH_REQUIRE_2FA an admin's token works only
while the admin has two-factor login (else the token would be a way around it). Tokens made by
`create_api_token` have no creator.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.throttling import SimpleRateThrottle

from checks.models import ApiToken
from dashboard import twofactor
from dashboard.roles import Role, has_role, role_of

# last_used_at is written at most this often per token: not one UPDATE per request.
TOUCH_EVERY = timedelta(minutes=1)
READ, WRITE = ApiToken.Role.READ, ApiToken.Role.WRITE


class TokenClient:
    """request.user for a token: authenticated, yet no dashboard user (no session, no pages)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    pk = None

    def __init__(self, token: ApiToken):
        self.token = token
        self.audit_user = token.created_by  # whom the audit log names beside the token

    def get_username(self) -> str:
        return f"API token {self.token.name}"


def effective_role(token: ApiToken) -> str | None:
    """The token's role as far as its creator still allows it; None: the token no longer works."""
    user = token.created_by
    if user is None:
        return token.role
    role = role_of(user)
    if role == Role.NONE:
        return None
    if token.role == WRITE and role < Role.ADMIN:
        return READ
    return token.role


def authenticate_bearer(header: str) -> ApiToken | None:
    """The token an Authorization header names (with `.role_now` set); None without a header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationFailed('Authorization must be "Bearer TOKEN"')
    token = ApiToken.objects.select_related("created_by").filter(digest=ApiToken.hash(value.strip())).first()
    if token is None:
        raise AuthenticationFailed("Unknown or revoked API token.")
    token.role_now = effective_role(token)
    if token.role_now is None:
        raise AuthenticationFailed("The account that created this token has no access to BotWatch any more.")
    if token.created_by is not None and twofactor.missing_required(token.created_by):
        raise AuthenticationFailed(
            "The account that created this token must use two-factor login (BOTWATCH_REQUIRE_2FA) "
            "and has not set it up; its tokens work again once it has."
        )
    _touch(token)
    return token


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or token.last_used_at < now - TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1")
        token = authenticate_bearer(header)
        return None if token is None else (TokenClient(token), token)

    def authenticate_header(self, request) -> str:
        # Makes a missing or bad token a 401 (with this challenge) rather than a 403.
        return 'Bearer realm="BotWatch"'


class TokenRole(BasePermission):
    """Any token reads; writes (POST, PUT, PATCH, DELETE) need a write token."""

    message = "This needs a write token; this token may only read."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False  # DRF answers 401: no token was given
        return request.method in SAFE_METHODS or token.role_now == WRITE


class SchemaReader(BasePermission):
    """The OpenAPI schema: any token, or a signed-in dashboard user (the docs page fetches it so)."""

    session = [SessionAuthentication]

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken) or has_role(request.user, Role.VIEWER)


class TokenRateThrottle(SimpleRateThrottle):
    """BOTWATCH_API_RATE requests per token, counted in the cache that every web process shares."""

    scope = "token"

    def get_rate(self) -> str:
        return settings.BOTWATCH_API_RATE

    def get_cache_key(self, request, view) -> str | None:
        token = request.auth
        if not isinstance(token, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": token.pk}


class BearerScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema (and the docs page's "Authorize") describes the tokens."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from the Account page or `manage.py create_api_token`; "
            "read tokens read, write tokens also write.",
        }

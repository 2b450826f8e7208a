"""API keys, scopes and stateless access tokens.

Keys are held only as SHA-256 digests. Access tokens are HMAC-SHA256 signed over the key id, the scopes and
the expiry with a key derived from `FLOWMATIC_SECRET_KEY`, so any gateway instance sharing that secret accepts
any other's tokens without shared state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

WORKFLOWS_READ = "workflows:read"
WORKFLOWS_WRITE = "workflows:write"
EXECUTIONS_READ = "executions:read"
EXECUTIONS_WRITE = "executions:write"
AUDIT_READ = "audit:read"
ALL_SCOPES: frozenset[str] = frozenset({WORKFLOWS_READ, WORKFLOWS_WRITE, EXECUTIONS_READ, EXECUTIONS_WRITE, AUDIT_READ})

ADMIN_KEY_ID = "admin"
TOKEN_PREFIX = "fm1."
TOKEN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class Principal:
    """Who is calling: the id of the API key behind the request and the scopes it may use."""

    key_id: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def hash_api_key(api_key: str) -> str:
    """The hex SHA-256 of an API key: the only form in which keys are kept."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _StoredKey:
    key_id: str
    digest: bytes
    scopes: frozenset[str]


class ApiKeyRegistry:
    """The known API keys, by SHA-256 digest."""

    def __init__(self) -> None:
        self._keys: list[_StoredKey] = []

    def add(self, key_id: str, sha256_hex: str, scopes: Iterable[str] = ALL_SCOPES) -> None:
        """Register a key by the hex SHA-256 of its value."""
        self._keys.append(_StoredKey(key_id, bytes.fromhex(sha256_hex), frozenset(scopes)))

    def authenticate(self, presented: str) -> Principal | None:
        """The principal of the key with this value, or None. Every stored digest is compared in constant time."""
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: _StoredKey | None = None
        for stored in self._keys:
            # No early exit, so timing does not reveal which key (if any) matched.
            if hmac.compare_digest(stored.digest, digest):
                found = stored
        return None if found is None else Principal(found.key_id, found.scopes)


def derive_signing_key(secret_key: bytes) -> bytes:
    """A key for signing access tokens, separate from the one that encrypts webhook secrets."""
    return hmac.new(secret_key, b"flowmatic access-token signing v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies stateless access tokens `fm1.<claims>.<signature>`."""

    def __init__(self, signing_key: bytes, ttl_seconds: int = TOKEN_TTL_SECONDS) -> None:
        self._key = signing_key
        self.ttl_seconds = ttl_seconds

    def _sign(self, claims: str) -> str:
        return _b64(hmac.new(self._key, claims.encode("ascii"), hashlib.sha256).digest())

    def issue(self, principal: Principal, now: float) -> str:
        """A token for this principal, valid for `ttl_seconds` from `now` (epoch seconds)."""
        claims = _b64(
            orjson.dumps({"k": principal.key_id, "s": sorted(principal.scopes), "e": int(now) + self.ttl_seconds})
        )
        return f"{TOKEN_PREFIX}{claims}.{self._sign(claims)}"

    def verify(self, token: str, now: float) -> Principal | None:
        """The principal a token was issued for, or None when it is malformed, forged or expired."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        claims, _, signature = token[len(TOKEN_PREFIX) :].partition(".")
        if not claims or not signature:
            return None
        try:
            claims.encode("ascii")
        except UnicodeEncodeError:
            return None
        if not hmac.compare_digest(self._sign(claims).encode("ascii"), signature.encode("ascii", "replace")):
            return None
        try:
            data = orjson.loads(_unb64(claims))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        key_id, scopes, expires = data.get("k"), data.get("s"), data.get("e")
        if not isinstance(key_id, str) or not isinstance(scopes, list) or not isinstance(expires, int):
            return None
        if not all(isinstance(s, str) for s in scopes) or now >= expires:
            return None
        return Principal(key_id, frozenset(scopes))


def looks_like_access_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX)

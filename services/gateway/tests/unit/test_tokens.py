"""API keys by hash and stateless, signed access tokens."""

from __future__ import annotations

import base64

import orjson

from flowmatic_gateway.domain.auth import (
    ALL_SCOPES,
    WORKFLOWS_READ,
    ApiKeyRegistry,
    Principal,
    TokenSigner,
    derive_signing_key,
    hash_api_key,
)

NOW = 1_800_000_000.0
ADMIN = Principal("admin", ALL_SCOPES)


def signer(secret: bytes = b"k" * 32) -> TokenSigner:
    return TokenSigner(derive_signing_key(secret))


def test_keys_are_known_by_hash_only() -> None:
    registry = ApiKeyRegistry()
    registry.add("admin", hash_api_key("the-key"))
    assert registry.authenticate("the-key") == Principal("admin", ALL_SCOPES)
    assert registry.authenticate("the-kez") is None
    assert "the-key" not in repr(vars(registry))


def test_a_token_round_trips_with_its_scopes() -> None:
    token = signer().issue(Principal("admin", frozenset({WORKFLOWS_READ})), NOW)
    assert signer().verify(token, NOW + 10) == Principal("admin", frozenset({WORKFLOWS_READ}))


def test_another_instance_with_the_same_secret_accepts_the_token() -> None:
    assert signer(b"shared").verify(signer(b"shared").issue(ADMIN, NOW), NOW) == ADMIN
    assert signer(b"other").verify(signer(b"shared").issue(ADMIN, NOW), NOW) is None


def test_tokens_expire_after_an_hour() -> None:
    token = signer().issue(ADMIN, NOW)
    assert signer().verify(token, NOW + 3599) == ADMIN
    assert signer().verify(token, NOW + 3600) is None


def test_a_token_with_edited_claims_is_refused() -> None:
    token = signer().issue(Principal("admin", frozenset({WORKFLOWS_READ})), NOW)
    _, _, signature = token.split(".")
    widened = orjson.dumps({"k": "admin", "s": sorted(ALL_SCOPES), "e": int(NOW) + 3600})
    forged = "fm1." + base64.urlsafe_b64encode(widened).rstrip(b"=").decode() + "." + signature
    assert signer().verify(forged, NOW) is None


def test_garbage_is_refused() -> None:
    for token in ["", "fm1.", "fm1..", "fm1.abc.def", "fm1.é.x", "not-a-token", "fm1.a.b.c"]:
        assert signer().verify(token, NOW) is None

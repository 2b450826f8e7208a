"""Webhook signatures, two schemes, every comparison in constant time over the exact bytes received:

- `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`, the key being the secret's UTF-8 bytes;
- Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (Unix seconds, within ±5 minutes)
  and `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, a space-separated list of
  which any one may match. A secret written `whsec_<base64>` is base64-decoded to the key, as the
  specification's libraries do; any other secret is used as its UTF-8 bytes.

A delivery passes when either scheme it carries matches any of the secrets currently valid for its trigger.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SIGNATURE_HEADER = "x-webhook-signature"
SIGNATURE_PREFIX = "sha256="
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_SECRET_PREFIX = "whsec_"
STANDARD_VERSION = "v1"
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60
# Bounds what one request can make us compute: a longer signature list is refused, not tried in full.
MAX_STANDARD_SIGNATURES = 10


def sign(secret: str, body: bytes) -> str:
    """The `X-Webhook-Signature` value a sender computes for this body."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _ascii(text: str) -> bytes:
    # Header values arrive as latin-1 text; anything outside ASCII can never match, but must not raise.
    return text.encode("ascii", "replace")


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """Whether an `X-Webhook-Signature` header signs exactly these bytes with this secret."""
    if header is None:
        return False
    value = header.strip()
    if not value.lower().startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(_ascii(sign(secret, body)), _ascii(value.lower()))


def standard_key(secret: str) -> bytes:
    """The HMAC key of a secret under Standard Webhooks: `whsec_<base64>` decoded, else the UTF-8 bytes."""
    if secret.startswith(STANDARD_SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(STANDARD_SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            pass  # not base64 after all: the whole string is the key, as for any other secret
    return secret.encode("utf-8")


def sign_standard(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `webhook-signature` entry (`v1,<base64>`) for this message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return f"{STANDARD_VERSION},{base64.b64encode(digest).decode('ascii')}"


@dataclass(frozen=True)
class SignatureVerdict:
    """Whether a delivery's signature holds; `reason` (a short code) says why not."""

    ok: bool
    reason: str = ""
    detail: str = ""


ACCEPTED = SignatureVerdict(True)


def _refused(reason: str, detail: str) -> SignatureVerdict:
    return SignatureVerdict(False, reason, detail)


def _standard_verdict(secrets: Sequence[str], body: bytes, headers: Mapping[str, str], now: float) -> SignatureVerdict:
    message_id = headers.get(STANDARD_ID_HEADER)
    timestamp_text = headers.get(STANDARD_TIMESTAMP_HEADER)
    listed = headers.get(STANDARD_SIGNATURE_HEADER, "")
    if not message_id or not timestamp_text:
        return _refused("signature_malformed", "webhook-signature needs webhook-id and webhook-timestamp")
    if not timestamp_text.strip().isdigit() or len(timestamp_text.strip()) > 12:
        return _refused("signature_malformed", "webhook-timestamp must be Unix seconds")
    timestamp = int(timestamp_text.strip())
    if abs(now - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        return _refused("timestamp_out_of_tolerance", "webhook-timestamp is more than 5 minutes from now")
    offered = [entry for entry in listed.split(" ") if entry]
    if not offered or len(offered) > MAX_STANDARD_SIGNATURES:
        return _refused("signature_malformed", "webhook-signature must list 1 to 10 `v1,<base64>` signatures")
    # Every candidate is compared, matched or not, so the time taken says nothing about which one matched.
    matched = False
    for secret in secrets:
        expected = _ascii(sign_standard(secret, message_id, timestamp, body))
        for entry in offered:
            matched |= hmac.compare_digest(expected, _ascii(entry))
    if matched:
        return ACCEPTED
    return _refused("signature_invalid", "no webhook-signature matches")


def verify_delivery(secrets: Sequence[str], body: bytes, headers: Mapping[str, str], now: float) -> SignatureVerdict:
    """Check a delivery against the trigger's valid secrets (current first, then one within its rotation
    window). `headers` are looked up by lower-case name; `now` is Unix seconds."""
    if not secrets:
        return ACCEPTED
    legacy = headers.get(SIGNATURE_HEADER)
    if legacy is not None and any([signature_matches(secret, body, legacy) for secret in secrets]):
        return ACCEPTED  # (a list, not a generator: every secret is tried, whichever matches)
    if STANDARD_SIGNATURE_HEADER in headers:
        return _standard_verdict(secrets, body, headers, now)
    if legacy is None:
        return _refused(
            "signature_missing",
            "this webhook needs X-Webhook-Signature (sha256=<hex HMAC-SHA256 of the body>) or Standard Webhooks"
            " headers (webhook-id, webhook-timestamp, webhook-signature)",
        )
    if not legacy.strip().lower().startswith(SIGNATURE_PREFIX):
        return _refused("signature_malformed", "X-Webhook-Signature must be sha256=<hex>")
    return _refused("signature_invalid", "X-Webhook-Signature does not match the body")

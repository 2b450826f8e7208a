"""Turning an HTTP delivery into an execution's input: the payload fields plus `_webhook`."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from flowmatic_gateway.domain.json_body import MalformedJsonError, parse_json

REDACTED = "[redacted]"
REDACTED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


class WebhookBodyError(ValueError):
    """A body that claims a JSON content type but is not JSON (400)."""


def multi_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Pairs as a dict; a repeated key gives a list of its values in order."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]
    return out


def safe_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header names lower-cased, repeated ones joined, credentials redacted."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in REDACTED_HEADERS:
            out[key] = REDACTED
        else:
            out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _body_fields(method: str, media_type: str, body: bytes, query: dict[str, Any]) -> dict[str, Any]:
    if method in {"GET", "HEAD"} or not body:
        return dict(query)
    if _is_json(media_type):
        try:
            value = parse_json(body)
        except MalformedJsonError as error:
            raise WebhookBodyError(str(error)) from None
        return dict(value) if isinstance(value, dict) else {"body": value}
    if media_type == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return {"body": base64.b64encode(body).decode("ascii")}
        return multi_dict(parse_qsl(text, keep_blank_values=True))
    if media_type.startswith("text/"):
        return {"body": body.decode("utf-8", "replace")}
    return {"body": base64.b64encode(body).decode("ascii")}


def build_payload(
    *,
    webhook_id: str,
    trigger_id: str,
    method: str,
    headers: Iterable[tuple[str, str]],
    query: Iterable[tuple[str, str]],
    content_type: str | None,
    body: bytes,
    received_at: str,
) -> dict[str, Any]:
    """The execution input for one delivery; raises WebhookBodyError for invalid JSON under a JSON type."""
    query_fields = multi_dict(query)
    payload = _body_fields(method.upper(), _media_type(content_type), body, query_fields)
    payload["_webhook"] = {
        "webhookId": webhook_id,
        "triggerId": trigger_id,
        "method": method.upper(),
        "headers": safe_headers(headers),
        "query": query_fields,
        "receivedAt": received_at,
    }
    return payload

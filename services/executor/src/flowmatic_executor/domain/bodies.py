"""The spec's "Bodies" rule for a recorded body: a JSON content type gives the parsed value, `text/*` gives
text, anything else a base64 string."""

from __future__ import annotations

import base64
import codecs
import json
from email.message import Message
from typing import Any


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """`"Application/JSON; charset=utf-8"` → `("application/json", "utf-8")`."""
    if not content_type:
        return "", None
    message = Message()
    message["content-type"] = content_type
    charset = message.get_param("charset")
    return message.get_content_type().lower(), charset if isinstance(charset, str) else None


def is_json(mime: str) -> bool:
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def decode_body(content: bytes, content_type: str | None) -> Any:
    """The recorded form of a body; an empty body is None. Invalid JSON under a JSON type is kept as text."""
    if not content:
        return None
    mime, charset = media_type(content_type)
    if is_json(mime):
        try:
            return json.loads(content.decode(_codec(charset, "utf-8"), errors="replace"))
        except ValueError:
            return content.decode("utf-8", errors="replace")
    if mime.startswith("text/"):
        return content.decode(_codec(charset, "utf-8"), errors="replace")
    return base64.b64encode(content).decode("ascii")


def _codec(charset: str | None, default: str) -> str:
    if charset is None:
        return default
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return default

"""RFC 9457 problem details and JSON answers."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson
from fastapi import Response

PROBLEM_MEDIA_TYPE = "application/problem+json"


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer serialised with orjson."""
    return Response(content=orjson.dumps(body), status_code=status, media_type="application/json")


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> Response:
    """An `application/problem+json` answer; never a stack trace."""
    body = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(content=orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE)

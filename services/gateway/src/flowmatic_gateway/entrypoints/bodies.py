"""Reading request bodies with a hard size limit, enforced while the bytes arrive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from flowmatic_gateway.domain.json_body import MalformedJsonError, parse_json
from flowmatic_gateway.entrypoints.problems import ProblemError

MANAGEMENT_BODY_LIMIT = 8 * 1024 * 1024


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, detail=f"the request body is larger than {limit} bytes")


@dataclass
class BodyMeter:
    """How many body bytes were read, also when reading stopped at the limit (for the audit log)."""

    received: int = 0


async def read_body(request: Request, limit: int, meter: BodyMeter | None = None) -> bytes:
    """The raw body; 413 as soon as it is known to exceed `limit` bytes, without reading the rest."""
    meter = meter if meter is not None else BodyMeter()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    async for chunk in request.stream():
        meter.received += len(chunk)
        if meter.received > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MANAGEMENT_BODY_LIMIT) -> Any:
    """The parsed JSON body: 413 over the limit, 400 when malformed or nested deeper than 100 levels."""
    raw = await read_body(request, limit)
    if not raw.strip():
        raise ProblemError(400, detail="the request needs a JSON body")
    try:
        return parse_json(raw)
    except MalformedJsonError as error:
        raise ProblemError(400, detail=str(error)) from None

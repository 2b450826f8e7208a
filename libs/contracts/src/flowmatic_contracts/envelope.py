"""The envelope every message travels in, the payload registry, and the orjson wire format."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny
from pydantic.alias_generators import to_camel

from flowmatic_contracts import ids


class WireModel(BaseModel):
    """Base of every wire record: immutable, camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid", ser_json_inf_nan="null"
    )


class Payload(WireModel):
    """Base of every command and event payload. Subclasses register their wire `type` with `@message`."""

    message_type: ClassVar[str]
    kind: ClassVar[Literal["command", "event"]]


class Actor(WireModel):
    """Who caused a message: an API key (by id, never its value), a webhook, or the system itself."""

    kind: Literal["apiKey", "webhook", "system"]
    id: str


SYSTEM = Actor(kind="system", id="flowmatic")


class Envelope(WireModel):
    """One message in the log. `sequence` is the per-aggregate event number (0 for commands and inputs)."""

    id: str
    type: str
    schema_version: int = 1
    aggregate_id: str
    sequence: int = 0
    occurred_at: datetime
    correlation_id: str
    causation_id: str | None = None
    actor: Actor
    previous_hash: str | None = None
    payload: SerializeAsAny[Payload]

    def payload_as(self, model: builtins.type[P]) -> P:
        """The payload as the given type; raises TypeError when the message is of another type."""
        if not isinstance(self.payload, model):
            raise TypeError(f"{self.type} is not a {model.__name__}")
        return self.payload


P = TypeVar("P", bound=Payload)

_REGISTRY: dict[str, type[Payload]] = {}


def message(type_name: str, kind: Literal["command", "event"]) -> Callable[[type[P]], type[P]]:
    """Register a payload class under its wire `type`. A wire type is never renamed."""

    def register(cls: type[P]) -> type[P]:
        if type_name in _REGISTRY:
            raise ValueError(f"message type {type_name} registered twice")
        cls.message_type = type_name
        cls.kind = kind
        _REGISTRY[type_name] = cls
        return cls

    return register


def registered_types() -> dict[str, type[Payload]]:
    """Every registered wire type and its payload class."""
    return dict(_REGISTRY)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_envelope(
    payload: Payload,
    *,
    aggregate_id: str,
    actor: Actor,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    sequence: int = 0,
    occurred_at: datetime | None = None,
    message_id: str | None = None,
) -> Envelope:
    """Wrap a payload in a fresh envelope."""
    mid = message_id or ids.new_id(ids.MESSAGE)
    return Envelope(
        id=mid,
        type=payload.message_type,
        aggregate_id=aggregate_id,
        sequence=sequence,
        occurred_at=occurred_at or utc_now(),
        correlation_id=correlation_id or mid,
        causation_id=causation_id,
        actor=actor,
        payload=payload,
    )


class UnknownMessageTypeError(ValueError):
    """A message whose `type` no payload class is registered for."""


def to_jsonable(envelope: Envelope) -> dict[str, Any]:
    """The envelope as plain JSON values, camelCase."""
    return envelope.model_dump(mode="json", by_alias=True)


def encode(envelope: Envelope) -> bytes:
    """Serialise an envelope to its wire bytes."""
    return orjson.dumps(to_jsonable(envelope))


def decode(raw: bytes | str) -> Envelope:
    """Parse wire bytes into an envelope with a typed payload.

    Raises `UnknownMessageTypeError` for an unregistered type and pydantic's `ValidationError` for a bad body,
    so a consumer can record and skip a bad message rather than stall.
    """
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("an envelope must be a JSON object")
    return from_jsonable(data)


def from_jsonable(data: dict[str, Any]) -> Envelope:
    """Build an envelope from plain JSON values (as `to_jsonable` produced them)."""
    type_name = data.get("type")
    payload_cls = _REGISTRY.get(type_name) if isinstance(type_name, str) else None
    if payload_cls is None:
        raise UnknownMessageTypeError(f"unknown message type {type_name!r}")
    payload = payload_cls.model_validate(data.get("payload", {}))
    return Envelope.model_validate({**data, "payload": payload})


__all__ = [
    "SYSTEM",
    "Actor",
    "Envelope",
    "Field",
    "Payload",
    "UnknownMessageTypeError",
    "WireModel",
    "decode",
    "encode",
    "from_jsonable",
    "message",
    "new_envelope",
    "registered_types",
    "to_jsonable",
    "utc_now",
]

"""What the gateway needs to know about connector types, as a small port.

The shared catalog (`flowmatic_contracts.connectors`) is adapted to this interface when present; until then the
built-in catalog in `builtin_connectors` serves. Validation only ever talks to `ConnectorCatalog`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel

Category = Literal["trigger", "action", "logic", "response"]


@dataclass(frozen=True)
class ConnectorDescriptor:
    """One connector type: how its parameters are checked and which outputs it has."""

    type: str
    name: str
    category: Category
    description: str
    parameters: builtins.type[BaseModel]
    outputs: tuple[str, ...] = ("main",)
    # For connectors whose outputs depend on their parameters (switch): the names given those parameters.
    dynamic_outputs: Callable[[Mapping[str, Any]], frozenset[str]] | None = field(default=None, compare=False)

    @property
    def is_trigger(self) -> bool:
        return self.category == "trigger"

    def output_names(self, parameters: Mapping[str, Any]) -> frozenset[str]:
        """The outputs a node of this type with these parameters may be connected from."""
        if self.dynamic_outputs is not None:
            return self.dynamic_outputs(parameters)
        return frozenset(self.outputs)

    def json_schema(self) -> dict[str, Any]:
        return self.parameters.model_json_schema(by_alias=True)


class ConnectorCatalog(Protocol):
    """Every connector type the platform knows."""

    def get(self, type_name: str) -> ConnectorDescriptor | None: ...

    def all(self) -> Sequence[ConnectorDescriptor]: ...


class StaticCatalog:
    """A catalog over a fixed list of descriptors."""

    def __init__(self, descriptors: Sequence[ConnectorDescriptor]) -> None:
        self._by_type = {d.type: d for d in descriptors}

    def get(self, type_name: str) -> ConnectorDescriptor | None:
        return self._by_type.get(type_name)

    def all(self) -> Sequence[ConnectorDescriptor]:
        return list(self._by_type.values())

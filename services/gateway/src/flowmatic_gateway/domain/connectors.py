"""What the gateway needs to know about connector types, as a small port, and its implementation over the
shared catalog in `flowmatic_contracts.connectors` (one pydantic model per connector type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from flowmatic_contracts import connectors
from flowmatic_contracts.events import FieldError


class ConnectorCatalog(Protocol):
    """Every connector type the platform knows."""

    def is_known(self, node_type: str) -> bool: ...

    def is_trigger(self, node_type: str) -> bool: ...

    def parameter_errors(self, node_type: str, parameters: Mapping[str, Any], prefix: str) -> list[FieldError]:
        """Save-time errors of a node's parameters, with paths under `prefix`; expressions stand for values."""

    def outputs(self, node_type: str, parameters: Mapping[str, Any]) -> list[str]:
        """The outputs a connection from such a node may name."""

    def describe(self) -> list[dict[str, Any]]:
        """The `data` of `GET /api/v1/connectors`."""


class SharedCatalog:
    """ConnectorCatalog over `flowmatic_contracts.connectors`, the catalog the executor runs too."""

    def is_known(self, node_type: str) -> bool:
        return node_type in connectors.CONNECTORS

    def is_trigger(self, node_type: str) -> bool:
        return node_type in connectors.TRIGGER_TYPES

    def parameter_errors(self, node_type: str, parameters: Mapping[str, Any], prefix: str) -> list[FieldError]:
        return [
            FieldError(path=path, message=message)
            for path, message in connectors.validate_parameters(node_type, dict(parameters), prefix)
        ]

    def outputs(self, node_type: str, parameters: Mapping[str, Any]) -> list[str]:
        return connectors.node_outputs(node_type, parameters)

    def describe(self) -> list[dict[str, Any]]:
        return connectors.catalog()

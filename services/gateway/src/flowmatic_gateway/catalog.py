"""Which connector catalog the gateway validates against."""

from __future__ import annotations

from flowmatic_gateway.domain.builtin_connectors import builtin_catalog
from flowmatic_gateway.domain.connectors import ConnectorCatalog


def connector_catalog() -> ConnectorCatalog:
    """The connector catalog: the gateway's built-in one until the shared catalog is adopted."""
    return builtin_catalog()

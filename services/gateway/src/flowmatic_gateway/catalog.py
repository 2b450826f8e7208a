"""Which connector catalog the gateway validates against and serves."""

from __future__ import annotations

from flowmatic_gateway.domain.connectors import ConnectorCatalog, SharedCatalog


def connector_catalog() -> ConnectorCatalog:
    """The shared connector catalog of `flowmatic_contracts`."""
    return SharedCatalog()

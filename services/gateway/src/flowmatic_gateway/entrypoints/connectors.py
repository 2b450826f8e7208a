"""GET /api/v1/connectors: the connector catalog, served by the gateway itself."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowmatic_gateway.entrypoints.dependencies import CurrentPrincipal, Deps

router = APIRouter(tags=["connectors"])


@router.get("/api/v1/connectors", summary="List connector types")
async def list_connectors(deps: Deps, _: CurrentPrincipal) -> dict[str, Any]:
    """Every connector type with its JSON Schema of parameters and its outputs."""
    return {"data": deps.catalog.describe()}

"""The orchestrator's entrypoints: the command processor loop and the health endpoints."""

"""Flowmatic orchestrator service."""

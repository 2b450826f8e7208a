"""Flowmatic gateway service."""

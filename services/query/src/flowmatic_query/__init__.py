"""Flowmatic query service."""

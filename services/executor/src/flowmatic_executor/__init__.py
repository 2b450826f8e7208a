"""Flowmatic executor service."""

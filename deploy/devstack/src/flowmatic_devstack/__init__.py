"""The flowmatic CLI and local stack."""

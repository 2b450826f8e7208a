"""pytest fixtures for the real infrastructure (filled in by the devstack work)."""

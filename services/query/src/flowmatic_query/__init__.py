"""Flowmatic query service: projects the event log into PostgreSQL read models and serves the GET endpoints.

Map: `adapters/projections.py` is where an event becomes a row, driven by `entrypoints/projector.py` (rows and
consumed offsets in one transaction); `entrypoints/http.py` serves the reads and `POST /internal/sync` (the
read-your-writes barrier, `entrypoints/sync_barrier.py`); `domain/` renders documents and parses list queries;
`bootstrap.py` wires it all; SQL migrations live in `deploy/postgres/migrations/`.
"""

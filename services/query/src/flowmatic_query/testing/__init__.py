"""Test support shipped with the query service: envelope builders, in-memory fakes of its ports, and a harness
that runs the real projector and app against a broker and a database. Never imported by the service itself."""

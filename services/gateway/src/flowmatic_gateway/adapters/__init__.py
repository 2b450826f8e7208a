"""Adapters of the gateway's ports: Kafka, the query service over HTTP, Fernet, and in-memory fakes."""

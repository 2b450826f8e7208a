"""Kafka and in-memory implementations of what the processor needs."""

"""PostgreSQL and Kafka adapters of the query service."""

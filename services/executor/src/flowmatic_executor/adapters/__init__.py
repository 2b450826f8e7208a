"""The executor's ties to the outside: outbound HTTP, DNS and Kafka."""

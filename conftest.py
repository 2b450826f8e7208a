"""Loads the devstack fixtures (real Kafka broker, real PostgreSQL, the running stack) for every test folder."""

pytest_plugins = ["flowmatic_devstack.pytest_plugin"]

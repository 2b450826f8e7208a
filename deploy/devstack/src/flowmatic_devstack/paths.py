"""Where the repository's deploy files are, wherever the CLI is started from."""

from __future__ import annotations

from pathlib import Path

# The package is installed in editable mode from deploy/devstack/src/flowmatic_devstack, so the repository root
# is four levels up; the deploy files it needs (the broker pom, the properties templates) live there.
REPO_ROOT = Path(__file__).resolve().parents[4]
KAFKA_DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"

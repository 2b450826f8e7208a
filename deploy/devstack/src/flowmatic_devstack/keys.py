"""The two keys the stack needs: the bootstrap admin API key and the Fernet secret key.

A generated admin key is shown once and only its SHA-256 is kept, so the state folder never holds it in clear.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ADMIN_KEY_HASH_FILE = "admin-api-key.sha256"
SECRET_KEY_FILE = "secret.key"


@dataclass(frozen=True)
class AdminKey:
    """How the gateway receives the admin key, and what the user is told about it."""

    env: Mapping[str, str]
    """Exactly one of FLOWMATIC_ADMIN_API_KEY or FLOWMATIC_ADMIN_API_KEY_SHA256."""
    generated: str | None
    """The key in clear when it was generated just now (to print once), else None."""
    note: str
    """What `flowmatic up` prints about the key when it did not generate it."""


def sha256_hex(key: str) -> str:
    """The form in which the admin key is stored and handed to the gateway."""
    return hashlib.sha256(key.encode()).hexdigest()


def resolve_admin_key(environ: Mapping[str, str], state_dir: Path) -> AdminKey:
    """The environment's key, else the stored hash, else a new key whose hash is stored."""
    if environ.get("FLOWMATIC_ADMIN_API_KEY"):
        return AdminKey(
            {"FLOWMATIC_ADMIN_API_KEY": environ["FLOWMATIC_ADMIN_API_KEY"]},
            None,
            "set by FLOWMATIC_ADMIN_API_KEY",
        )
    if environ.get("FLOWMATIC_ADMIN_API_KEY_SHA256"):
        return AdminKey(
            {"FLOWMATIC_ADMIN_API_KEY_SHA256": environ["FLOWMATIC_ADMIN_API_KEY_SHA256"]},
            None,
            "set by FLOWMATIC_ADMIN_API_KEY_SHA256",
        )
    hash_file = state_dir / ADMIN_KEY_HASH_FILE
    if hash_file.exists():
        return AdminKey(
            {"FLOWMATIC_ADMIN_API_KEY_SHA256": hash_file.read_text().strip()},
            None,
            f"generated earlier and shown once (its hash is in {hash_file}; delete that file for a new key)",
        )
    key = secrets.token_urlsafe(32)
    _write_private(hash_file, sha256_hex(key) + "\n")
    return AdminKey({"FLOWMATIC_ADMIN_API_KEY_SHA256": sha256_hex(key)}, key, "generated now")


def new_secret_key() -> str:
    """A Fernet-compatible key: 32 random bytes, urlsafe base64."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def resolve_secret_key(environ: Mapping[str, str], state_dir: Path) -> str:
    """FLOWMATIC_SECRET_KEY, else the key kept in the state folder (created once, readable by its owner only)."""
    if environ.get("FLOWMATIC_SECRET_KEY"):
        return environ["FLOWMATIC_SECRET_KEY"]
    key_file = state_dir / SECRET_KEY_FILE
    if key_file.exists():
        return key_file.read_text().strip()
    key = new_secret_key()
    _write_private(key_file, key + "\n")
    return key


def _write_private(path: Path, content: str) -> None:
    """Create `path` with mode 0600 from the start, so the content is never readable by others even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)

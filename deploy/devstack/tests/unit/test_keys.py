"""The admin API key and the secret key: taken from the environment, or generated once and kept safely."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from cryptography.fernet import Fernet

from flowmatic_devstack.keys import resolve_admin_key, resolve_secret_key


def test_an_admin_key_from_the_environment_is_passed_as_is_and_nothing_is_stored(tmp_path: Path) -> None:
    admin = resolve_admin_key({"FLOWMATIC_ADMIN_API_KEY": "k1"}, tmp_path)

    assert dict(admin.env) == {"FLOWMATIC_ADMIN_API_KEY": "k1"}
    assert admin.generated is None
    assert admin.note == "set by FLOWMATIC_ADMIN_API_KEY"
    assert list(tmp_path.iterdir()) == []


def test_a_generated_admin_key_is_shown_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    first = resolve_admin_key({}, tmp_path)

    assert first.generated is not None
    digest = hashlib.sha256(first.generated.encode()).hexdigest()
    assert dict(first.env) == {"FLOWMATIC_ADMIN_API_KEY_SHA256": digest}
    stored = tmp_path / "admin-api-key.sha256"
    assert stored.read_text().strip() == digest
    assert first.generated not in stored.read_text()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    second = resolve_admin_key({}, tmp_path)

    assert second.generated is None
    assert dict(second.env) == {"FLOWMATIC_ADMIN_API_KEY_SHA256": digest}


def test_an_environment_key_wins_over_a_stored_hash(tmp_path: Path) -> None:
    resolve_admin_key({}, tmp_path)

    admin = resolve_admin_key({"FLOWMATIC_ADMIN_API_KEY": "mine"}, tmp_path)

    assert dict(admin.env) == {"FLOWMATIC_ADMIN_API_KEY": "mine"}


def test_the_secret_key_is_generated_once_as_a_private_fernet_key(tmp_path: Path) -> None:
    key = resolve_secret_key({}, tmp_path)

    Fernet(key.encode())  # raises unless it is 32 bytes of urlsafe base64
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert resolve_secret_key({}, tmp_path) == key
    assert resolve_secret_key({"FLOWMATIC_SECRET_KEY": "from-env"}, tmp_path) == "from-env"

"""Webhook secrets at rest: Fernet with `FLOWMATIC_SECRET_KEY`."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretBoxError(ValueError):
    """A ciphertext that this key cannot open."""


class FernetSecretBox:
    """Encrypts webhook secrets before they enter the log, and opens them to check signatures."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as error:
            raise ValueError("FLOWMATIC_SECRET_KEY must be a Fernet key (URL-safe base64 of 32 bytes)") from error

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as error:
            raise SecretBoxError("cannot decrypt a webhook secret") from error

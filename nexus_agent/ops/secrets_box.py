"""The encrypted copy of a secrets file kept in a backup (``cryptography``'s Fernet).

The key comes from a passphrase (scrypt, a fresh random salt per backup) or from a key
file (a Fernet key as written by :func:`new_key_file`, or at least 32 bytes of random
data, stretched with HKDF). Fernet authenticates as well as encrypts: a wrong key or a
changed byte fails to open, it never yields garbage. The salt and KDF parameters go in
the backup's manifest; the key never does.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from nexus_agent.wire.errors import InvalidInput

__all__ = ["SecretsKey", "decrypt", "encrypt", "new_key_file"]

_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PASSPHRASE = 12


class SecretsKey:
    """Where the key comes from: exactly one of a passphrase file or a key file."""

    def __init__(self, *, passphrase_file: Path | None = None, key_file: Path | None = None) -> None:
        if (passphrase_file is None) == (key_file is None):
            raise InvalidInput(
                "the secrets copy needs exactly one key source",
                hint="Give --passphrase-file FILE or --key-file FILE (not both).",
            )
        self.passphrase_file, self.key_file = passphrase_file, key_file

    def _read(self, path: Path) -> bytes:
        try:
            return path.expanduser().read_bytes().strip()
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}", hint="Give a readable file.") from exc

    def fernet(self, params: dict[str, Any]) -> Fernet:
        """A Fernet for these KDF ``params`` (as stored in the manifest)."""
        if self.passphrase_file is not None:
            if params.get("kdf") != "scrypt":
                raise InvalidInput(
                    "this backup's secrets were encrypted with a key file, not a passphrase",
                    hint="Give --key-file.",
                )
            phrase = self._read(self.passphrase_file)
            if len(phrase) < MIN_PASSPHRASE:
                raise InvalidInput(
                    f"the passphrase is shorter than {MIN_PASSPHRASE} characters",
                    hint="Use a long passphrase (several words).",
                )
            salt = base64.b64decode(params["salt"])
            kdf = Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"])
            return Fernet(base64.urlsafe_b64encode(kdf.derive(phrase)))
        assert self.key_file is not None
        if params.get("kdf") != "key-file":
            raise InvalidInput(
                "this backup's secrets were encrypted with a passphrase, not a key file",
                hint="Give --passphrase-file.",
            )
        return Fernet(_key_from_file(self._read(self.key_file), self.key_file))

    def new_params(self) -> dict[str, Any]:
        if self.passphrase_file is not None:
            return {"kdf": "scrypt", "salt": base64.b64encode(os.urandom(16)).decode(), **_SCRYPT}
        return {"kdf": "key-file"}


def _key_from_file(data: bytes, path: Path) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(data)) == 32:
            return data  # a Fernet key
    except ValueError:
        pass
    if len(data) < 32:
        raise InvalidInput(
            f"the key file {path} holds fewer than 32 bytes",
            hint="Use a Fernet key: `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`.",
        )
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"nexus-backup-secrets")
    return base64.urlsafe_b64encode(hkdf.derive(data))


def encrypt(plaintext: bytes, key: SecretsKey) -> tuple[bytes, dict[str, Any]]:
    params = key.new_params()
    return key.fernet(params).encrypt(plaintext), params


def decrypt(token: bytes, key: SecretsKey, params: dict[str, Any]) -> bytes:
    try:
        return key.fernet(params).decrypt(token)
    except InvalidToken as exc:
        raise InvalidInput(
            "the secrets copy does not open with this key (wrong passphrase or key file, or a damaged backup)",
            hint="Give the passphrase or key file used when the backup was made.",
        ) from exc


def new_key_file(path: Path) -> None:
    """Write a new random Fernet key, readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key() + b"\n")

"""A backup is one file: a gzip'd tar of a few known members and a manifest.

::

    nexus-backup-20261205T104315Z.tar.gz
      manifest.json   format, version, when, what Nexus, member checksums, row counts, truth head
      nexus.db        the database (SQLite online backup, journal mode DELETE: one self-contained file)
      truth.bundle    the local truth repository (``git bundle --all``), when there is one
      shared.pgdump   the shared PostgreSQL database (``pg_dump --format=custom``), with NEXUS_DATABASE_URL
      secrets.enc     an encrypted copy of a secrets file, when asked for

Writing goes to a ``.partial`` file renamed into place at the end, so a backup that
is listed is complete. Reading accepts only these member names as regular files
(no paths, links or devices), so an archive cannot write outside the folder it is
unpacked into.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nexus_agent.wire.errors import InvalidInput

__all__ = ["MANIFEST", "MEMBERS", "pack", "sha256_file", "unpack"]

MANIFEST = "manifest.json"
MEMBERS = frozenset({MANIFEST, "nexus.db", "truth.bundle", "secrets.enc", "shared.pgdump"})
#: gzip level 1: most of the size win at a fraction of the time (SQLite pages compress well).
COMPRESSLEVEL = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def pack(dest: Path, manifest: dict[str, Any], files: Iterable[Path]) -> None:
    """Write ``manifest`` and ``files`` (by their names) to ``dest`` atomically."""
    partial = dest.with_name(dest.name + ".partial")
    try:
        with tarfile.open(partial, "w:gz", compresslevel=COMPRESSLEVEL) as tar:
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), 0o600, int(manifest.get("created_unix", 0))
            tar.addfile(info, io.BytesIO(body))
            for path in files:
                tar.add(path, arcname=path.name, recursive=False)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def unpack(archive: Path, into: Path) -> dict[str, Any]:
    """Unpack ``archive`` into the folder ``into``; returns the manifest. Raises InvalidInput when unreadable."""
    hint = "Check the path; a damaged backup cannot be used: take or pick another one."
    if not archive.is_file():
        raise InvalidInput(f"{archive} is not a backup file", hint="Give the path of a nexus-backup-*.tar.gz file.")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name not in MEMBERS or not member.isfile():
                    raise InvalidInput(f"{archive} holds an unexpected entry {member.name!r}", hint=hint)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(into / member.name, "wb") as out:
                    while chunk := source.read(1 << 20):
                        out.write(chunk)
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, EOFError) and exc.errno is not None:
            raise InvalidInput(f"cannot read {archive}: {exc.strerror or exc}", hint=hint) from exc
        raise InvalidInput(f"{archive} is damaged or not a Nexus backup ({exc})", hint=hint) from exc
    try:
        manifest = json.loads((into / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{archive} has no readable manifest ({exc})", hint=hint) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != "nexus-backup":
        raise InvalidInput(f"{archive} is not a Nexus backup (no nexus-backup manifest)", hint=hint)
    return manifest

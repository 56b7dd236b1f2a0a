"""Who is serving a Nexus home: ``nexus serve`` holds a lock that ``backup restore`` and ``recover`` respect.

A running server keeps the database open; a restore renames that database aside and puts the backup's
in its place, so the server would go on writing to the copy set aside and every write would be lost.
``nexus serve`` (stdio or HTTP) therefore holds a *shared* ``flock`` on ``<home>/nexus.serve.lock`` for
as long as it runs (several servers may share a home), with its pid written in the file; a restore
takes the lock *exclusively* and is refused while any server holds it, whatever ``--force`` says.
The kernel drops the lock when the process ends, so a crashed server leaves no stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from nexus_agent.config import Settings
from nexus_agent.wire.errors import Conflict

__all__ = ["LOCK_NAME", "exclusive_home", "serving_home"]

LOCK_NAME = "nexus.serve.lock"


def _lock_path(settings: Settings) -> Path:
    settings.home.mkdir(parents=True, exist_ok=True)
    return settings.home / LOCK_NAME


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


@contextlib.contextmanager
def serving_home(settings: Settings) -> Iterator[None]:
    """Hold the home's serve lock (shared) while a server runs; refused while a restore holds it."""
    fd = os.open(_lock_path(settings), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                f"a backup restore or recovery is running on the Nexus home {settings.home}",
                hint="Wait for `nexus backup restore` / `nexus recover` to finish, then start `nexus serve` again.",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def exclusive_home(settings: Settings) -> Iterator[None]:
    """Hold the home's serve lock exclusively (a restore); a Conflict while any ``nexus serve`` runs."""
    fd = os.open(_lock_path(settings), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(
                f"Nexus is serving this home{_holder(fd)}; stop it first",
                hint=f"Stop `nexus serve` on {settings.home} (every server using it), then run the command again; "
                "--force does not override this: a running server would keep writing to the database set aside.",
            ) from None
        yield
    finally:
        os.close(fd)

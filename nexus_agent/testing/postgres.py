"""A throwaway PostgreSQL cluster for tests: the machine's ``initdb``/``pg_ctl``, a temp folder, a free port.

    cluster = ThrowawayCluster.start()      # raises ClusterUnavailable (with how to enable) if it cannot
    url = cluster.create_database("t1")     # postgresql://postgres@127.0.0.1:PORT/t1
    cluster.stop()                          # immediate stop; the folder is removed

``initdb`` refuses to run as root, so as root the cluster runs as the ``postgres`` user
(``runuser -u postgres -- ...``). The cluster trusts local connections and listens on
127.0.0.1 only. Nothing here reads the environment: the test fixture decides whether to use
``NEXUS_TEST_DATABASE_URL`` instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENABLE_HINT", "ClusterUnavailable", "ThrowawayCluster", "admin_url", "create_database", "drop_database"]

ENABLE_HINT = (
    "install PostgreSQL 15+ (initdb and pg_ctl on the PATH; as root a 'postgres' user must exist), "
    "or set NEXUS_TEST_DATABASE_URL=postgresql://USER@HOST:PORT/DB (a role that may CREATE DATABASE)"
)


class ClusterUnavailable(RuntimeError):
    """No throwaway cluster can be started here; the message says why and how to enable one."""


def _pg_tool(name: str) -> str | None:
    """``name`` on the PATH, else in Debian's versioned folder (apt's postgresql does not link initdb)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return str(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_cluster_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise ClusterUnavailable(f"running as root without runuser, so initdb cannot run; {ENABLE_HINT}")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterUnavailable(f"running as root and there is no 'postgres' user; {ENABLE_HINT}") from None
    return [runuser, "-u", "postgres", "--"]


@dataclass
class ThrowawayCluster:
    folder: Path
    port: int
    prefix: list[str]

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls) -> ThrowawayCluster:
        initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise ClusterUnavailable(f"initdb/pg_ctl are not on the PATH; {ENABLE_HINT}")
        prefix = _as_cluster_user()
        folder = Path(tempfile.mkdtemp(prefix="nexus-pg-"))
        if prefix:
            shutil.chown(folder, "postgres")
        cluster = cls(folder=folder, port=_free_port(), prefix=prefix)
        data = folder / "data"
        try:
            subprocess.run(
                [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                check=True,
                capture_output=True,
                timeout=120,
            )
            options = f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            subprocess.run(
                [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
                check=True,
                capture_output=True,
                timeout=120,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            err = getattr(exc, "stderr", b"") or b""
            shutil.rmtree(folder, ignore_errors=True)
            raise ClusterUnavailable(
                f"the throwaway cluster did not start ({err.decode()[-300:]}); {ENABLE_HINT}"
            ) from exc
        return cluster

    def create_database(self, name: str) -> str:
        return create_database(self.url, name)

    def stop(self) -> None:
        pg_ctl = _pg_tool("pg_ctl") or "pg_ctl"
        subprocess.run(
            [*self.prefix, pg_ctl, "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def admin_url(url: str, dbname: str = "postgres") -> str:
    """``url`` pointing at another database of the same server."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def create_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` (dropping an old one); return its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url(url, name)


def drop_database(url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

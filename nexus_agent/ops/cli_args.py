"""Arguments of ``nexus metrics``, ``nexus backup …`` and ``nexus recover`` (listed in ``cli_parser.COMMANDS``).

Only argparse here: building the parser must stay fast for every ``nexus`` command.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["OPS_COMMAND_NAMES", "add_backup", "add_metrics", "add_recover"]

#: Commands whose handlers live in :mod:`nexus_agent.ops.commands`.
OPS_COMMAND_NAMES = frozenset({"metrics", "backup", "recover"})


def _key_options(parser: argparse.ArgumentParser, text: str) -> None:
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--passphrase-file", help=f"file holding the passphrase {text}")
    keys.add_argument("--key-file", help=f"file holding a key (a Fernet key, or 32+ random bytes) {text}")


def add_metrics(sub: Any, common: argparse.ArgumentParser) -> None:
    m = sub.add_parser(
        "metrics", parents=[common], help="the seed's four figures: registrations, completion, errors, response time"
    )
    m.add_argument("--since", default="24h", help="window to compute over: 24h (default), 7d, 30m ...")


def add_backup(sub: Any, common: argparse.ArgumentParser) -> None:
    group = sub.add_parser("backup", help="back up, verify and restore a Nexus home")
    group.set_defaults(needs_action=True)
    actions = group.add_subparsers(dest="action", metavar="ACTION")
    c = actions.add_parser("create", parents=[common], help="write one backup file (database, truth, manifest)")
    c.add_argument("--to", help="folder for the backup file (default: $NEXUS_BACKUP_DIR or $NEXUS_HOME/backups)")
    c.add_argument("--secrets", help="also keep an encrypted copy of this secrets file (e.g. your .env)")
    _key_options(c, "that encrypts --secrets")
    v = actions.add_parser("verify", parents=[common], help="restore a backup into a temporary place and check it")
    v.add_argument("file", help="a nexus-backup-*.tar.gz file")
    _key_options(v, "to check the secrets copy opens")
    r = actions.add_parser("restore", parents=[common], help="restore a backup into this home (--home)")
    r.add_argument("file", help="a nexus-backup-*.tar.gz file")
    r.add_argument("--force", action="store_true", help="replace a home that holds data (it is kept aside, renamed)")
    r.add_argument("--secrets-to", help="write the decrypted secrets copy to this new file (mode 600)")
    _skip_shared(r)
    _key_options(r, "that opens the secrets copy")


def _skip_shared(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-shared",
        action="store_true",
        help="leave PostgreSQL (NEXUS_DATABASE_URL) as it is: restore only this replica's SQLite file and truth",
    )


def add_recover(sub: Any, common: argparse.ArgumentParser) -> None:
    r = sub.add_parser(
        "recover", parents=[common], help="the recovery drill: restore, check satellites, resume orchestration"
    )
    r.add_argument("--from", dest="backup", required=True, help="the backup file to recover from")
    r.add_argument("--force", action="store_true", help="replace a home that holds data (it is kept aside)")
    r.add_argument("--skip-resume", action="store_true", help="restore and check only; deliver and resume nothing")
    _skip_shared(r)

"""``nexus`` command line: the only place that reads the environment.

It builds one :class:`~nexus_agent.config.Settings` from ``NEXUS_*`` variables
and flags, opens the services and calls the same tool functions the MCP server
exposes. A :class:`~nexus_agent.wire.errors.NexusError` becomes a message on stderr
and a non-zero exit code here, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexus_agent.wire.errors import InvalidInput, NexusError, NotFound

if TYPE_CHECKING:
    from nexus_agent.config import Settings

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNHEALTHY = 0, 1, 2, 3


def _settings(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    from nexus_agent.config import Settings

    overrides: dict[str, Any] = {"home": getattr(args, "home", None), "db_path": getattr(args, "db_path", None)}
    if getattr(args, "token_file", None):
        overrides["token_file"] = args.token_file
    for flag in ("tls_cert", "tls_key"):
        if getattr(args, flag, None):
            overrides[flag] = Path(getattr(args, flag)).expanduser()
    return Settings.load(env, **overrides)


def _import_quietly() -> Any:
    """Import the commands with the cyclic GC off: start-up builds thousands of long-lived objects
    (pydantic models, SDK types) that collections would scan again and again (~15% of `nexus serve`'s
    start); they are then frozen out of later collections."""
    gc.disable()
    try:
        from nexus_agent.cli_parser import build_parser

        return build_parser()
    finally:
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> int:
    parser = _import_quietly()
    args = parser.parse_args(argv)
    environ = dict(os.environ if env is None else env)
    if args.command is None or (getattr(args, "needs_action", False) and args.action is None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        settings = _settings(args, environ)
        logging.basicConfig(
            level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        from nexus_agent.config import known_secrets
        from nexus_agent.wire.secret_guard import install_log_redaction

        install_log_redaction(known_secrets(settings, environ))  # configured secret values never reach a log
        from nexus_agent import commands  # late import keeps `nexus --version` fast
        from nexus_agent.wire.secret_env import SatelliteSecrets

        # Satellites' tokens and webhook secrets come only from SATELLITE_* and allow-listed variables:
        # nothing below sees (or could send) any other variable of this environment.
        secrets = SatelliteSecrets.from_env(environ, allow=settings.secret_env_allow)
        code = commands.dispatch(args, settings, secrets)
        with contextlib.suppress(ValueError):  # (stdout closed, e.g. by a stdio transport: nothing to flush)
            sys.stdout.flush()  # a reader that left shows here, where it is handled, not at interpreter exit
        return code
    except (NexusError, BaseExceptionGroup) as raised:
        exc = _nexus_error_in(raised)
        if exc is None:
            raise
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, InvalidInput | NotFound) else EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `nexus keys list | head -1`: the reader left early; no traceback for that
        _silence_stdout()
        return EXIT_FAILED


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit does not raise BrokenPipeError again."""
    with contextlib.suppress(OSError, ValueError):  # stdout is no real file (a test's capture): nothing to do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _nexus_error_in(exc: BaseException) -> NexusError | None:
    """The NexusError itself, or the one inside task-group ExceptionGroups (anyio wraps them)."""
    if isinstance(exc, NexusError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _nexus_error_in(inner)
            if found is not None:
                return found
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

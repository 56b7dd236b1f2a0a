"""A satellite's command line in one call: ``raise SystemExit(run_cli(sat))``.

    serve                      MCP over stdio
    serve --http HOST:PORT     MCP over streamable HTTP, plus /api/health and /api/webhooks/nexus
    register [--base-url URL]  submit the AppRecord to Nexus (NEXUS_URL, NEXUS_TOKEN)
    record [--base-url URL]    print the AppRecord that `register` would submit

This is the only place of the kit that reads the environment.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from nexus_agent.wire.errors import ConfigError, NexusError
from nexus_agent.wire.inbound import tls13_server_context
from satellite_template.settings import SatelliteSettings

if TYPE_CHECKING:
    from satellite_template.kit import Satellite

__all__ = ["parse_host_port", "run_cli"]


def parse_host_port(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8800"`` or ``"[::1]:8800"`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--http expects HOST:PORT, got {text!r}", hint="For example: --http 127.0.0.1:8800")
    return host.strip("[]"), int(port)


def _parser(sat: Satellite) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=sat.slug, description=f"{sat.name}: a satellite app of Nexus.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the MCP tools (stdio, or HTTP with --http)")
    serve.add_argument("--http", metavar="HOST:PORT", help="serve streamable HTTP on HOST:PORT instead of stdio")
    serve.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS (TLS 1.3 only) with this certificate (PEM)")
    serve.add_argument("--tls-key", metavar="FILE", help="the private key (PEM) of --tls-cert")
    for name, text in (("register", "register this satellite with Nexus"), ("record", "print its AppRecord")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--base-url", help="public base URL of this satellite (default: SATELLITE_PUBLIC_URL)")
    return parser


def run_cli(sat: Satellite, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the command line of ``sat``; returns the exit code (0 ok, 1 failed, 2 bad configuration)."""
    args = _parser(sat).parse_args(argv)
    environ = os.environ if env is None else env
    try:
        overrides: dict[str, object] = {}
        if getattr(args, "http", None):
            overrides["host"], overrides["port"] = parse_host_port(args.http)
        for flag in ("tls_cert", "tls_key"):
            if getattr(args, flag, None):
                overrides[flag] = getattr(args, flag)
        settings = SatelliteSettings.from_env(environ, **overrides)
        logging.basicConfig(level=settings.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        if args.command == "serve":
            _serve(sat, settings, http=bool(args.http))
        elif args.command == "record":
            base_url = args.base_url or settings.base_url()
            print(sat.app_record(base_url).model_dump_json(indent=2, exclude_none=True))
        else:
            _register(sat, settings, args.base_url)
    except NexusError as exc:
        print(exc.user_message(), file=sys.stderr)
        return 2 if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        return 130
    return 0


def _serve(sat: Satellite, settings: SatelliteSettings, *, http: bool) -> None:
    if not http:
        sat.run_stdio()
        return
    import uvicorn

    tls: dict[str, Any] = {}
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("HTTPS needs both --tls-cert and --tls-key", hint="Give both, or neither for plain HTTP.")
    if settings.tls_cert is not None:
        context = tls13_server_context(settings.tls_cert, settings.tls_key)  # TLS 1.3 only
        tls["ssl_context_factory"] = lambda config, default: context
    app = sat.create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Nexus keeps a long-lived listen stream open; do not wait for it forever on shutdown.
        timeout_graceful_shutdown=5,
        **tls,
    )


def _register(sat: Satellite, settings: SatelliteSettings, base_url: str | None) -> None:
    if settings.nexus_url is None or settings.nexus_token is None:
        raise ConfigError(
            "registering needs NEXUS_URL and NEXUS_TOKEN",
            hint="Set NEXUS_URL to Nexus's /mcp endpoint and NEXUS_TOKEN (or SATELLITE_NEXUS_TOKEN_FILE).",
        )
    url, token = str(settings.nexus_url), settings.nexus_token.get_secret_value()
    target = base_url or settings.base_url()
    answer = anyio.run(lambda: sat.register_with_nexus(url, token, base_url=target))
    app = answer.get("app", {}) if isinstance(answer, dict) else {}
    action = answer.get("action", "registered") if isinstance(answer, dict) else "registered"
    print(f"{sat.slug}: {action} in Nexus's registry (status {app.get('status', '?')}); the owner approves it next")

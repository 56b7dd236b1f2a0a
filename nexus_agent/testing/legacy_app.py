"""Run the fake legacy app by hand: ``python -m nexus_agent.testing.legacy_app [--port 8801] [--record FILE]``.

It serves :class:`~nexus_agent.testing.fake_legacy_app.FakeLegacyApp` (a stock ledger) on 127.0.0.1,
prints the secret to give Nexus and, with ``--record``, writes a registration pointing at it.
"""

from __future__ import annotations

from nexus_agent.testing.fake_legacy_app import FakeLegacyApp
from nexus_agent.testing.servers import free_port

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m nexus_agent.testing.legacy_app``: serve a fake stock ledger until Ctrl-C.

    Prints its URLs and the secret to give Nexus; ``--record FILE`` writes a registration that points at it.
    """
    import argparse
    import secrets
    from pathlib import Path

    import uvicorn

    from nexus_agent.events.webhook_secrets import default_secret_env

    parser = argparse.ArgumentParser(prog="python -m nexus_agent.testing.legacy_app", description=main.__doc__)
    parser.add_argument("--slug", default="stock-ledger", help="the app's slug (default stock-ledger)")
    parser.add_argument("--port", type=int, default=8801, help="port on 127.0.0.1 (default 8801; 0: a free one)")
    parser.add_argument("--secret-file", help="file holding the shared secret (default: a new random one)")
    parser.add_argument("--record", metavar="FILE", help="write an active registration pointing here to FILE")
    args = parser.parse_args(argv)
    secret = Path(args.secret_file).read_text().strip() if args.secret_file else secrets.token_urlsafe(32)
    app = FakeLegacyApp(args.slug, secret)
    port = args.port or free_port()
    app.base_url = f"http://127.0.0.1:{port}"
    if args.record:
        Path(args.record).write_text(app.record().model_dump_json(indent=1, exclude_none=True))
    print(f"fake legacy app '{args.slug}' at {app.message_handler_url} (health {app.health_url})")
    print(f"give Nexus its secret: export {default_secret_env(args.slug)}={secret}")
    if args.record:
        print(f"register it: nexus registry register {args.record}")
    print("", flush=True)
    uvicorn.run(app.asgi_app(), host="127.0.0.1", port=port, log_level="warning")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

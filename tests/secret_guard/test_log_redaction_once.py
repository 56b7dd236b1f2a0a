"""install_log_redaction: filters on loggers and on their handlers, yet each record is redacted once, and a
secret is still redacted on every path (a logger's own record, a child's record at the handler, a handler
added after the install)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest

from nexus_agent.wire import secret_guard
from nexus_agent.wire.secret_guard import KnownSecrets, RedactingFilter, install_log_redaction

SECRET = "lantern-velvet-orchard-harbour"
INSTALLED = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "mcp", "httpx")


@pytest.fixture
def access_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """``uvicorn.access`` as uvicorn sets it up (its own handler, not propagating); logging restored afterwards."""
    saved = {name: (logging.getLogger(name).propagate, list(logging.getLogger(name).handlers)) for name in INSTALLED}
    filters = {
        id(o): (o, list(o.filters)) for n in INSTALLED for o in (logging.getLogger(n), *logging.getLogger(n).handlers)
    }
    logger = logging.getLogger("uvicorn.access")
    out = io.StringIO()
    logger.addHandler(logging.StreamHandler(out))
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield logger, out
    finally:
        for name, (propagate, handlers) in saved.items():
            logging.getLogger(name).propagate = propagate
            logging.getLogger(name).handlers[:] = handlers
        for owner, kept in filters.values():
            owner.filters[:] = kept
        logger.setLevel(logging.NOTSET)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the filters redact (the filter looks ``redact`` up in its module at each call)."""
    seen: list[str] = []
    real: Callable[..., str] = secret_guard.redact

    def counting(text: str, known: KnownSecrets | None = None) -> str:
        seen.append(text)
        return real(text, known)

    monkeypatch.setattr(secret_guard, "redact", counting)
    return seen


def _access_line(logger: logging.Logger) -> None:
    logger.info('%s - "%s %s HTTP/1.1" %d', "127.0.0.1:5000", "POST", f"/hooks?token={SECRET}", 200)


def _one_filter_pass(counted: list[str]) -> int:
    """How many texts one filter redacts for the access line (the baseline for 'once')."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, '%s - "%s %s HTTP/1.1" %d', None, None)
    record.args = ("127.0.0.1:5000", "POST", f"/hooks?token={SECRET}", 200)
    RedactingFilter(KnownSecrets([SECRET])).filter(record)
    n = len(counted)
    counted.clear()
    return n


def test_a_record_passing_the_loggers_and_the_handlers_filter_is_redacted_once(
    access_log: tuple[logging.Logger, io.StringIO], counted: list[str]
) -> None:
    logger, out = access_log
    once = _one_filter_pass(counted)
    install_log_redaction(KnownSecrets([SECRET]))
    assert any(isinstance(f, RedactingFilter) for f in logger.filters)
    assert all(any(isinstance(f, RedactingFilter) for f in h.filters) for h in logger.handlers)
    _access_line(logger)
    assert len(counted) == once, counted  # not once per filter
    assert SECRET not in out.getvalue() and "[REDACTED:configured_secret]" in out.getvalue()


def test_a_secret_is_redacted_on_every_path(access_log: tuple[logging.Logger, io.StringIO], counted: list[str]) -> None:
    logger, out = access_log
    install_log_redaction(KnownSecrets([SECRET]))
    # The handler path: a child's record skips the logger's filter and is redacted at the handler.
    logging.getLogger("uvicorn.access.child").info("child saw %s", SECRET)
    # The logger path: a handler added after the install has no filter; the logger's own filter redacted it.
    late = io.StringIO()
    logger.addHandler(logging.StreamHandler(late))
    _access_line(logger)
    written = out.getvalue() + late.getvalue()
    assert SECRET not in written, written
    assert "child saw [REDACTED:configured_secret]" in out.getvalue()
    assert "token=[REDACTED:configured_secret]" in late.getvalue()
    # A later install with more values applies them, even to a record an earlier set already redacted.
    install_log_redaction(KnownSecrets([SECRET, "quote-engine-hook-value"]))
    logger.info("hook %s and %s", "quote-engine-hook-value", SECRET)
    assert "quote-engine-hook-value" not in out.getvalue()

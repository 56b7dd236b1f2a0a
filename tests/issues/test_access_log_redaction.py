"""Regression: the log-redaction filter broke uvicorn's access log ("cannot unpack non-iterable NoneType")."""

from __future__ import annotations

import logging

from uvicorn.logging import AccessFormatter

from nexus_agent.wire.secret_guard import RedactingFilter


def test_uvicorn_access_records_still_format_after_redaction() -> None:
    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0" * 2
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/health?token={token}", "1.1", 200), None,
    )  # fmt: skip
    assert RedactingFilter().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(record)
    assert "127.0.0.1:5000" in line and "200" in line and "/api/health" in line
    assert token not in line


def test_plain_records_are_redacted_whole() -> None:
    secret = "sk-ant-" + "a1B2c3D4e5F6g7H8" * 3
    record = logging.LogRecord("nexus", logging.INFO, __file__, 1, "calling with %s", (f"key={secret}",), None)
    RedactingFilter().filter(record)
    assert secret not in record.getMessage() and "calling with" in record.getMessage()

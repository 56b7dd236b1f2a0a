"""MCP content kinds: images, audio and resource blobs are data; text and structured content are still scanned."""

from __future__ import annotations

import base64
import os
import struct
import zlib

import mcp_types as types

from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets, is_payload, redact_data, scan

WEBHOOK_SECRET = "lantern-velvet-orchard-harbour"  # no pattern finds this: only its exact value can
GITHUB_TOKEN = "ghp_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"


def noisy_png(width: int = 64, height: int = 64) -> bytes:
    """A real PNG of random pixels: as high-entropy as base64 gets."""
    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def answer(*blocks: types.ContentBlock, structured: dict | None = None) -> dict:  # type: ignore[type-arg]
    """A satellite's answer as Nexus scans it (SDK models dumped to JSON)."""
    return {"content": [b.model_dump(mode="json") for b in blocks], "structured_content": structured}


def test_an_image_audio_and_blob_answer_passes() -> None:
    png = b64(noisy_png())
    blocks = (
        types.ImageContent(type="image", data=png, mime_type="image/png"),
        types.AudioContent(type="audio", data=b64(os.urandom(4096)), mime_type="audio/wav"),
        types.EmbeddedResource(
            type="resource",
            resource=types.BlobResourceContents(uri="file:///report.pdf", blob=b64(os.urandom(4096))),
        ),
        types.TextContent(type="text", text="Chart of quotes by week"),
    )
    assert scan(answer(*blocks)) == []
    ensure_no_secrets(answer(*blocks), "answer", "pass on", known=KnownSecrets([WEBHOOK_SECRET]))


def test_the_same_base64_as_text_is_still_a_finding() -> None:
    """The payload passes because of its kind, not because the guard stopped looking at base64."""
    token_like = b64(os.urandom(30))
    assert scan({"type": "text", "text": f"key {token_like}"}) != []
    assert scan({"type": "image", "data": token_like}) == []


def test_text_and_structured_content_are_still_scanned() -> None:
    image = types.ImageContent(type="image", data=b64(noisy_png(8, 8)), mime_type="image/png")
    leaked_text = answer(image, types.TextContent(type="text", text=f"use {GITHUB_TOKEN}"))
    assert [f.kind for f in scan(leaked_text)] == ["github_token"]
    leaked_structured = answer(image, structured={"deploy": {"api_key": "k3y-live-0a9b8c7d6e5f"}})
    assert [(f.kind, f.location) for f in scan(leaked_structured)] == [
        ("secret_field", "structured_content.deploy.api_key")
    ]
    text_resource = types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri="file:///.env", text=f"GITHUB_TOKEN={GITHUB_TOKEN}")
    )
    assert scan(answer(text_resource)) != []


def test_data_that_is_not_base64_is_read_as_text() -> None:
    """A token put in an image's data field is not an image: it is found."""
    assert [f.kind for f in scan({"type": "image", "data": GITHUB_TOKEN, "mimeType": "image/png"})] == ["github_token"]


def test_a_configured_secret_hidden_inside_a_payload_is_found() -> None:
    known = KnownSecrets([WEBHOOK_SECRET])
    smuggled = b64(noisy_png(8, 8) + WEBHOOK_SECRET.encode() + os.urandom(64))
    findings = scan(answer(types.ImageContent(type="image", data=smuggled, mime_type="image/png")), known=known)
    assert [(f.kind, f.location) for f in findings] == [("configured_secret", "content[0].data")]
    assert WEBHOOK_SECRET not in repr(findings)
    blob = types.EmbeddedResource(
        type="resource", resource=types.BlobResourceContents(uri="file:///x.bin", blob=b64(WEBHOOK_SECRET.encode()))
    )
    assert [f.location for f in scan(answer(blob), known=known)] == ["content[0].resource.blob"]


def test_payloads_nested_in_a_fan_out_result_pass() -> None:
    """The guard knows content kinds wherever they are embedded, e.g. a fan-out item's result."""
    png = b64(noisy_png())
    fan_out = {
        "tool": "chart",
        "items": [
            {"slug": "east", "ok": True, "result": {"content": [{"type": "image", "data": png, "mime_type": "x"}]}},
            {"slug": "west", "ok": False, "error": {"code": "secret_detected", "message": "withheld"}},
        ],
    }
    assert scan(fan_out) == []


def test_is_payload_needs_the_content_kind() -> None:
    data = b64(os.urandom(48))
    assert is_payload({"type": "image", "data": data}, "data")
    assert is_payload({"type": "audio", "data": data}, "data")
    assert is_payload({"uri": "file:///a", "blob": data}, "blob")
    assert not is_payload({"type": "text", "data": data}, "data")  # a 'data' field of anything else is text
    assert not is_payload({"blob": data}, "blob")
    assert not is_payload({"type": "image", "data": 42}, "data")


def test_redact_data_keeps_payloads_and_redacts_known_values_in_them() -> None:
    png = b64(noisy_png(8, 8))
    known = KnownSecrets([WEBHOOK_SECRET])
    clean = {"content": [{"type": "image", "data": png}, {"type": "text", "text": f"hook {WEBHOOK_SECRET}"}]}
    redacted = redact_data(clean, known=known)
    assert redacted["content"][0]["data"] == png
    assert redacted["content"][1]["text"] == "hook [REDACTED:configured_secret]"
    smuggled = {"type": "audio", "data": b64(WEBHOOK_SECRET.encode())}
    assert redact_data(smuggled, known=known)["data"] == "[REDACTED:configured_secret]"

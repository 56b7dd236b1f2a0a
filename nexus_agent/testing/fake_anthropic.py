"""A scripted fake of the Anthropic Messages API, for tests that drive the real SDK.

Serve it on 127.0.0.1 and point ``anthropic.AsyncAnthropic(base_url=...)`` at it::

    fake = FakeAnthropic([
        reply(tool_use("quote-engine__list_quotes", {"min_total": 25000}), text("Listing quotes.")),
        reply(text("Three quotes need chasing.")),
    ])
    with fake.serve() as base_url:
        client = anthropic.AsyncAnthropic(base_url=base_url, api_key="test", max_retries=0)
        ...
    assert fake.requests[1]["messages"][-1]["content"][0]["type"] == "tool_result"

``POST /v1/messages`` answers with the next scripted turn (a :class:`Turn`, or a
callable that builds one from the request), records every request body, and
checks what the real API would refuse with a 400: tool names outside
``^[a-zA-Z0-9_-]{1,64}$``, more than four ``cache_control`` blocks, a
``tool_use`` whose ``tool_result`` is missing from the next user message, or
messages that do not alternate user/assistant. When the script runs out it
answers 500, so a test fails loudly instead of hanging.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from nexus_agent.testing.servers import serve_in_thread

__all__ = ["FakeAnthropic", "Turn", "api_error", "client_for", "reply", "text", "tool_use"]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ids = itertools.count(1)


def text(value: str) -> dict[str, Any]:
    """A ``text`` content block."""
    return {"type": "text", "text": value}


def tool_use(name: str, arguments: dict[str, Any] | None = None, *, id: str | None = None) -> dict[str, Any]:
    """A ``tool_use`` content block (a fresh ``toolu_…`` id unless given)."""
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": arguments or {}}


@dataclass
class Turn:
    """One scripted answer: content blocks, or an HTTP error."""

    content: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int | None = None  # None: estimated from the request size
    output_tokens: int = 50
    cache_read_tokens: int = 0
    status: int = 200
    error_type: str = ""
    error_message: str = ""


def reply(*blocks: dict[str, Any], input_tokens: int | None = None, output_tokens: int = 50) -> Turn:
    """An assistant turn; text blocks are moved before tool_use blocks, as the API orders them."""
    ordered = sorted(blocks, key=lambda b: b["type"] != "text")
    return Turn(content=ordered, input_tokens=input_tokens, output_tokens=output_tokens)


def api_error(status: int, message: str, error_type: str = "api_error") -> Turn:
    return Turn(status=status, error_type=error_type, error_message=message)


Scripted = Turn | Callable[[dict[str, Any]], Turn]


def _problem(body: dict[str, Any]) -> str:
    """What the real API would reject this request for, or ''."""
    for tool in body.get("tools") or []:
        if not _NAME.match(str(tool.get("name", ""))):
            return f"tools: name {tool.get('name')!r} does not match ^[a-zA-Z0-9_-]{{1,64}}$"
        if not isinstance(tool.get("input_schema"), dict):
            return f"tools: {tool.get('name')} has no input_schema object"
    blocks = [*(body.get("tools") or []), *(body.get("system") or [] if isinstance(body.get("system"), list) else [])]
    for message in body.get("messages") or []:
        if isinstance(message.get("content"), list):
            blocks += message["content"]
    if sum(1 for b in blocks if isinstance(b, dict) and "cache_control" in b) > 4:
        return "A maximum of 4 blocks with cache_control may be provided."
    messages = body.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    for before, after in itertools.pairwise(messages):
        if before.get("role") == after.get("role"):
            return "messages: roles must alternate between user and assistant"
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
            continue
        ids = {b["id"] for b in message["content"] if b.get("type") == "tool_use"}
        if not ids:
            continue
        following = messages[i + 1]["content"] if i + 1 < len(messages) else []
        answered = {b.get("tool_use_id") for b in following if isinstance(b, dict) and b.get("type") == "tool_result"}
        if ids - answered:
            return f"messages.{i + 1}: tool_use ids without tool_result blocks: {sorted(ids - answered)}"
    return ""


class FakeAnthropic:
    """The fake API: a script of turns, and every request it received."""

    def __init__(self, script: Iterable[Scripted] = (), *, model: str = "claude-test") -> None:
        self._script: deque[Scripted] = deque(script)
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.model = model
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])

    def add(self, *turns: Scripted) -> None:
        with self._lock:
            self._script.extend(turns)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    async def _messages(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            scripted = self._script.popleft() if self._script else None
        problem = _problem(body)
        if problem:
            return _error(400, "invalid_request_error", problem)
        if scripted is None:
            return _error(500, "api_error", "FakeAnthropic: the script has no more turns")
        turn = scripted(body) if callable(scripted) else scripted
        if turn.status != 200:
            return _error(turn.status, turn.error_type or "api_error", turn.error_message or "scripted error")
        stop = "tool_use" if any(b["type"] == "tool_use" for b in turn.content) else "end_turn"
        estimated = max(1, len(json.dumps(body)) // 4)  # about four characters per token
        return JSONResponse(
            {
                "id": f"msg_{next(_ids):06d}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", self.model),
                "content": turn.content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": turn.input_tokens if turn.input_tokens is not None else estimated,
                    "output_tokens": turn.output_tokens,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": turn.cache_read_tokens,
                },
            }
        )

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve on 127.0.0.1; yields the base URL to give ``AsyncAnthropic(base_url=...)``."""
        with serve_in_thread(self.app) as base_url:
            yield base_url


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)


def client_for(base_url: str, **options: Any) -> Any:
    """A real ``anthropic.AsyncAnthropic`` talking to the fake (no retries unless asked)."""
    import anthropic

    options.setdefault("max_retries", 0)
    return anthropic.AsyncAnthropic(base_url=base_url, api_key="test-key", **options)

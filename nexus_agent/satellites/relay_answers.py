"""Reading a satellite's answer to a fast-path call (:mod:`nexus_agent.gateway_fastpath`), and when a call belongs
to the normal path because the satellite wants to ask the calling client (sampling, elicitation, roots).

The fast path declares no client capabilities to the satellite, so it does not take a call from a client that
declares one of those (:func:`may_answer_questions`); a satellite that still asks either refuses before running
anything (JSON-RPC -32021: :func:`refused_as_asking`, the request goes to the normal path) or answers
``input_required`` (:func:`asked_midway`: the normal path only for a tool that is safe to resend).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from nexus_agent.satellites.relay_http import RelayAnswer
from nexus_agent.wire.errors import UpstreamError

__all__ = [
    "HandOver",
    "answer_of",
    "asked_midway",
    "is_capability_refusal",
    "may_answer_questions",
    "refused_as_asking",
]

# What a satellite may ask its client for; Nexus relays those questions only on the normal path.
_ASKING_CAPABILITIES = frozenset({"sampling", "elicitation", "roots"})
_MISSING_CAPABILITY = -32021  # JSON-RPC: a capability the client did not declare; the satellite ran nothing


class HandOver(Exception):
    """The satellite refused before running anything (it wants to ask the client): the normal path takes over."""


def answer_of(response: RelayAnswer, request_id: int | str) -> dict[str, Any]:
    """The satellite's JSON-RPC answer to ``request_id`` (a JSON body, or the SSE event that carries it)."""
    kind = response.content_type
    if kind == "application/json":
        message = json.loads(response.body)
        if isinstance(message, dict) and message.get("id") == request_id:
            return message
    elif kind == "text/event-stream":
        for block in response.body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
            if data:
                message = json.loads(data)
                if isinstance(message, dict) and message.get("id") == request_id and "method" not in message:
                    return message
    raise ValueError(f"the satellite answered HTTP {response.status} {kind or 'without a type'}, not JSON-RPC")


def may_answer_questions(meta: Mapping[str, Any]) -> bool:
    """Whether the calling client declared (or may have declared) sampling, elicitation or roots."""
    declared = meta.get(types.CLIENT_CAPABILITIES_META_KEY)
    if declared is None:
        return False
    if not isinstance(declared, dict):
        return True
    return not _ASKING_CAPABILITIES.isdisjoint(declared) and any(
        declared.get(key) is not None for key in _ASKING_CAPABILITIES
    )


def refused_as_asking(response: RelayAnswer, request_id: int | str) -> bool:
    """An HTTP error status carrying the satellite's -32021 refusal (a capability the client did not declare),
    sent before it ran anything. (A successful status is read once, by the caller: :func:`is_capability_refusal`.)"""
    if response.status < 400:
        return False
    try:
        error = answer_of(response, request_id).get("error")
    except Exception:  # not JSON-RPC: an ordinary fault, read as one by the caller
        return False
    return is_capability_refusal(error)


def is_capability_refusal(error: Any) -> bool:
    """Whether a JSON-RPC ``error`` object is -32021 (a capability the client did not declare)."""
    return isinstance(error, dict) and error.get("code") == _MISSING_CAPABILITY


def asked_midway(slug: str, tool: str, retryable: bool) -> Exception:
    """An ``input_required`` answer: safe to redo on the normal path only for a tool that is safe to resend."""
    if retryable:
        return HandOver()
    return UpstreamError(
        f"satellite '{slug}' asked the client a question (sampling, elicitation or roots) while calling tool "
        f"'{tool}', and this client declared none of those; Nexus did not resend the call, as the tool may "
        "already have acted",
        hint="call the tool from a client that declares the capability the satellite asks for",
    )

"""How a Nexus tool's result or error reads over MCP (the server edge's one translation point).

A :class:`~nexus_agent.wire.errors.NexusError` becomes an MCP tool error here (``[code] message`` and
``How to fix: ...``), an argument validation failure becomes a readable list, and a structured result's
text copy is compact JSON. :mod:`nexus_agent.server` applies these to every call.
"""

from __future__ import annotations

import base64
from typing import Any

import pydantic_core
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.types import BlobResourceContents, CallToolResult, TextContent
from pydantic import ValidationError

from nexus_agent.wire.errors import InvalidInput, NexusError

__all__ = ["as_contents", "compact_text", "internal_error_text", "tool_error_text", "without_sdk_prefix"]


def tool_error_text(exc: BaseException) -> str:
    if isinstance(exc, NexusError):
        return exc.user_message()
    if isinstance(exc, ValidationError):
        return InvalidInput.from_validation(exc, "the arguments").user_message()
    return str(exc)


def internal_error_text(name: str, incident: str | None = None) -> str:
    """What a caller reads when a tool crashed: a bug in Nexus, details in the server log."""
    where = f" (incident {incident})" if incident else ""
    return (
        f"[internal_error] {name} failed unexpectedly{where}.\n"
        "How to fix: this is a bug in Nexus, not in your input; the server log has the details."
    )


def without_sdk_prefix(name: str, exc: ToolError) -> ToolError:
    """The SDK's ``Error executing tool <name>: ...`` wrapper as Nexus's one format: ``[code] message\nHow to fix``.

    Every tool error reaches the client in that format, whichever layer refused the call; the cause
    chain is kept (the observer reads the NexusError code from it, the SDK logs a crash's traceback).
    """
    cause = exc.__cause__
    if isinstance(exc, UnexpectedToolError):
        return UnexpectedToolError(internal_error_text(name))
    if isinstance(cause, ValidationError):
        return ToolError(InvalidInput.from_validation(cause, f"arguments to {name}").user_message())
    text = str(cause) if isinstance(cause, ToolError | ResourceError) else str(exc)
    if isinstance(cause, NexusError | ToolError) and text.startswith("["):
        return ToolError(text)  # already "[code] message\nHow to fix: ..." (run_tool translated it)
    text = text.removeprefix(f"Error executing tool {name}: ")
    return ToolError(
        f"[tool_error] {name} failed: {text}\nHow to fix: read the message, correct the call and try again."
    )


def as_contents(item: Any) -> ReadResourceContents:
    """A satellite's resource contents as the SDK's server side wants them (it re-encodes blobs)."""
    if isinstance(item, BlobResourceContents):
        return ReadResourceContents(content=base64.b64decode(item.blob), mime_type=item.mime_type)
    return ReadResourceContents(content=item.text, mime_type=item.mime_type)


def compact_text(result: Any) -> Any:
    """The text copy of a structured result as compact JSON: the SDK indents it, which made a 500-app page's
    answer 1.5 MB instead of 1.1 MB for every client to read (the text is the same JSON either way)."""
    if isinstance(result, CallToolResult) and result.structured_content is not None and len(result.content) == 1:
        (block,) = result.content
        if isinstance(block, TextContent):
            text = pydantic_core.to_json(result.structured_content).decode()
            result.content = [TextContent(type="text", text=text, annotations=block.annotations, meta=block.meta)]
    return result

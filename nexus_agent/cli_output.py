"""What the CLI prints and how its commands call tools: shared by every command module."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nexus_agent.auth import LOCAL_OWNER
from nexus_agent.services import NexusServices
from nexus_agent.toolset import tool_by_name
from nexus_agent.wire.errors import InvalidInput
from tools.base import ToolCall

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_UNHEALTHY", "call_tool", "emit", "format_table", "read_text_file"]

EXIT_OK, EXIT_FAILED, EXIT_UNHEALTHY = 0, 1, 3


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(out)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def emit(args: argparse.Namespace, result: BaseModel | dict[str, Any], human: str) -> None:
    if args.json:
        data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        print(json.dumps(data, indent=2, default=str))
    else:
        print(human)


async def call_tool(services: NexusServices, name: str, arguments: dict[str, Any]) -> Any:
    actor = services.settings.actor  # the CLI acts as the local owner, recorded under NEXUS_ACTOR
    call = ToolCall(services=services, actor=actor, principal=LOCAL_OWNER.model_copy(update={"name": actor}))
    return await tool_by_name(name).invoke(call, arguments, max_bytes=services.settings.max_input_bytes)


def read_text_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {path}", hint="Check the path and try again.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", hint="Save the registration as UTF-8 JSON.") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc

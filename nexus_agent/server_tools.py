"""Nexus's own tool specs as the SDK's tool functions: signature, principal, validation, secret guard.

Each :class:`~tools.base.ToolSpec` becomes one function the SDK's ``MCPServer`` can call: it takes the
caller from the request, re-validates the arguments through the spec's model, guards the result against
secrets, and turns a :class:`~nexus_agent.wire.errors.NexusError` into a tool error.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from nexus_agent.access import PrincipalOf, refused
from nexus_agent.server_results import internal_error_text
from nexus_agent.services import NexusServices
from nexus_agent.wire.errors import Forbidden, NexusError
from nexus_agent.wire.secret_guard import ensure_no_secrets
from tools.base import ToolCall, ToolSpec

__all__ = ["add_tools", "make_tool_function"]

log = logging.getLogger("nexus.server")


def _signature_for(spec: ToolSpec[Any, Any]) -> inspect.Signature:
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Context)]
    for name, info in spec.input_model.model_fields.items():
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[info.annotation, info],
            )
        )
    return inspect.Signature(params, return_annotation=spec.output_model)


def make_tool_function(spec: ToolSpec[Any, Any], services: NexusServices, principal_of: PrincipalOf) -> Any:
    async def run_tool(ctx: Context, **arguments: Any) -> Any:
        async def progress(done: float, total: float | None, message: str | None) -> None:
            try:
                await ctx.report_progress(done, total, message)
            except Exception:  # a client without progress support must not fail the call
                log.debug("progress report dropped", exc_info=True)

        principal = principal_of(ctx)
        call = ToolCall(services=services, actor=principal.name, progress=progress, context=ctx, principal=principal)
        try:
            # Re-validate through the model: runs model-level validators and size limits.
            result = await spec.invoke(call, arguments, max_bytes=services.settings.max_input_bytes)
            ensure_no_secrets(
                result.model_dump(mode="json"), f"result of {spec.name}", "return", known=services.known_secrets
            )
            return result
        except Forbidden as exc:  # a scope rule of the role policy (another app's record, another's plan...)
            raise await refused(services, principal, spec.name, exc) from exc
        except NexusError as exc:
            log.info("tool %s failed: %s", spec.name, exc.code)
            raise ToolError(services.known_secrets.redact(exc.user_message())) from exc
        except Exception as exc:
            incident = uuid.uuid4().hex[:8]
            log.exception("tool %s crashed (incident %s)", spec.name, incident)
            raise ToolError(internal_error_text(spec.name, incident)) from exc

    run_tool.__name__ = spec.name
    run_tool.__signature__ = _signature_for(spec)  # type: ignore[attr-defined]
    return run_tool


def add_tools(
    server: MCPServer[Any], tools: Sequence[ToolSpec[Any, Any]], services: NexusServices, principal_of: PrincipalOf
) -> None:
    """Add each spec to ``server`` with its title, description and behaviour hints."""
    for spec in tools:
        server.add_tool(
            make_tool_function(spec, services, principal_of),
            name=spec.name,
            title=spec.title,
            description=spec.description,
            annotations=ToolAnnotations(
                title=spec.title,
                read_only_hint=spec.read_only,
                destructive_hint=spec.destructive,
                idempotent_hint=spec.idempotent,
                open_world_hint=spec.open_world,
            ),
            structured_output=True,
        )

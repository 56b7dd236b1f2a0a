"""The request context handed to fake GitHub handlers, and paging."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from nexus_agent.testing.fake_github._repo import ApiError

#: What a handler returns: (status, JSON body or None for 204, extra headers)
Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Ctx:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    login: str
    api: str
    headers: dict[str, str] = field(default_factory=dict)

    def field(self, name: str, kind: type | tuple[type, ...] = str, *, required: bool = True) -> Any:
        value = self.body.get(name) if isinstance(self.body, dict) else None
        if value is None and not required:
            return None
        if not isinstance(value, kind):
            raise ApiError(422, f'Invalid request.\n\n"{name}" wasn\'t supplied.')
        return value

    def b64(self, name: str) -> bytes:
        try:
            return base64.b64decode(self.field(name), validate=False)
        except (binascii.Error, ValueError):
            raise ApiError(422, f"Invalid request.\n\n{name} is not valid Base64.") from None


def ok(body: Any, status: int = 200) -> Reply:
    return status, body, {}


def paginate(ctx: Ctx, items: list[Any]) -> Reply:
    per_page = max(1, min(int(ctx.query.get("per_page", 30)), 100))
    page = max(1, int(ctx.query.get("page", 1)))
    chunk = items[(page - 1) * per_page : page * per_page]
    last = max(1, -(-len(items) // per_page))
    links = []
    if page < last:
        for rel, number in (("next", page + 1), ("last", last)):
            query = urlencode({**ctx.query, "page": number, "per_page": per_page})
            links.append(f'<{ctx.api}{ctx.path}?{query}>; rel="{rel}"')
    return 200, chunk, ({"Link": ", ".join(links)} if links else {})

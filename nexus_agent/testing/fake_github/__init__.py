"""A fake GitHub REST API for tests: a Starlette app with in-memory repositories.

It answers the endpoints PyGithub calls for a truth source — repositories,
contents (GET/PUT/DELETE with blob-sha checks), git refs/commits/trees/blobs,
commit history, issues, issue labels and comments, repository labels, webhooks —
and the GitHub App installation-token exchange. Object ids are real git ids.
Requests need ``Authorization: token X`` or ``Bearer X``; anything else is 401.

Serve it on 127.0.0.1 and point real PyGithub at it::

    fake = FakeGitHub(tokens={"test-token": "owner"})
    fake.create_repo("sfg/truth")
    with fake.serve() as base_url:
        gh = github.Github(auth=github.Auth.Token("test-token"), base_url=base_url)

PyGithub sends paths under its ``base_url`` unchanged; the fake also accepts
them under ``/api/v3`` (GitHub Enterprise style). ``fake.requests`` records
``(method, path)`` of every call; ``fake.fail_next(...)`` injects an error.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nexus_agent.testing.fake_github import _files, _issues
from nexus_agent.testing.fake_github._ctx import Ctx, Reply, ok
from nexus_agent.testing.fake_github._repo import ApiError, FakeRepo, person
from nexus_agent.testing.servers import serve_in_thread

__all__ = ["FakeGitHub", "FakeRepo", "serve_fake_github"]

_REPO = r"^/repos/(?P<owner>[^/]+)/(?P<repo_name>[^/]+)"
_ROUTES = [(m, re.compile(_REPO + p + "$"), fn) for m, p, fn in (*_files.ROUTES, *_issues.ROUTES)]
_APP_TOKEN = re.compile(r"^/app/installations/(?P<installation>\d+)/access_tokens$")
_DOCS = "https://docs.github.com/rest"


@dataclass
class _Fault:
    status: int
    message: str
    method: str | None
    path_contains: str | None
    headers: dict[str, str]
    times: int


@dataclass
class _Installation:
    app_id: str
    login: str


class FakeGitHub:
    """In-memory GitHub. ``tokens`` maps accepted personal access tokens to the login they act as."""

    def __init__(self, tokens: Mapping[str, str] | None = None) -> None:
        self.tokens: dict[str, str] = dict(tokens or {})
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._apps: dict[str, str] = {}
        self._installations: dict[int, _Installation] = {}
        self._minted: dict[str, tuple[str, datetime]] = {}
        self._faults: list[_Fault] = []
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- setting up ------------------------------------------------------------------------
    def add_token(self, token: str, login: str) -> None:
        self.tokens[token] = login

    def create_repo(
        self, full_name: str, *, default_branch: str = "main", auto_init: bool = True, private: bool = True
    ) -> FakeRepo:
        """Create a repository; ``auto_init`` gives it a first commit with a README, as GitHub's checkbox does."""
        owner, name = full_name.split("/")
        with self.lock:
            repo = FakeRepo(owner, name, default_branch=default_branch, private=private)
            if auto_init:
                repo.commit_files(None, {"README.md": f"# {name}\n".encode()}, "Initial commit", person(owner))
            self.repos[full_name] = repo
            return repo

    def installation_tokens(self) -> dict[str, str]:
        """Installation tokens handed out so far: token -> the login it acts as."""
        with self.lock:
            return {token: login for token, (login, _expires) in self._minted.items()}

    def repo(self, full_name: str) -> FakeRepo:
        return self.repos[full_name]

    def add_app(self, app_id: int | str, public_key_pem: str | bytes, installation_id: int, *, login: str = "") -> None:
        """Register a GitHub App (its public key verifies the app's JWTs) installed as ``installation_id``."""
        pem = public_key_pem.decode() if isinstance(public_key_pem, bytes) else public_key_pem
        with self.lock:
            self._apps[str(app_id)] = pem
            self._installations[installation_id] = _Installation(str(app_id), login or f"app-{app_id}[bot]")

    def fail_next(
        self,
        status: int,
        message: str = "",
        *,
        method: str | None = None,
        path_contains: str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` and ``message`` (before authentication)."""
        with self.lock:
            self._faults.append(_Fault(status, message, method, path_contains, dict(headers or {}), times))

    @contextlib.contextmanager
    def serve(self, *, timeout: float = 10.0) -> Iterator[str]:
        """Serve on 127.0.0.1 in a thread; yield the base URL to give PyGithub."""
        with serve_in_thread(self, timeout=timeout) as url:
            yield url

    # -- request handling ------------------------------------------------------------------
    async def _endpoint(self, request: Request) -> Response:
        path: str = request.scope["path"]
        prefix = "/api/v3" if path.startswith("/api/v3/") else ""
        path = path[len(prefix) :]
        api = f"{request.url.scheme}://{request.url.netloc}{prefix}"
        raw = await request.body()
        with self.lock:
            self.requests.append((request.method, path))
            try:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    raise ApiError(400, "Problems parsing JSON") from None
                self._inject_fault(request.method, path)
                login = self._authenticate(request.headers.get("authorization", ""), path)
                ctx = Ctx(request.method, path, dict(request.query_params), body, login, api, dict(request.headers))
                status, data, headers = self._dispatch(ctx)
            except ApiError as exc:
                status, headers = exc.status, exc.headers
                data = {"message": exc.message, "documentation_url": _DOCS, "status": str(exc.status)}
        headers = {**self._rate_headers(), **headers}
        if data is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(data, status_code=status, headers=headers)

    def _inject_fault(self, method: str, path: str) -> None:
        for fault in self._faults:
            if (fault.method in (None, method)) and (fault.path_contains is None or fault.path_contains in path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                raise ApiError(fault.status, fault.message or "Injected failure", fault.headers)

    def _authenticate(self, header: str, path: str) -> str:
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() not in {"token", "bearer"} or not credential:
            raise ApiError(401, "Requires authentication")
        if path.startswith("/app/") or path == "/app":
            return self._app_from_jwt(credential)
        if credential in self.tokens:
            return self.tokens[credential]
        minted = self._minted.get(credential)
        if minted is not None and minted[1] > datetime.now(UTC):
            return minted[0]
        raise ApiError(401, "Bad credentials")

    def _app_from_jwt(self, token: str) -> str:
        try:
            issuer = str(jwt.decode(token, options={"verify_signature": False}).get("iss"))
            if issuer not in self._apps:
                raise ApiError(401, "Integration not found")
            jwt.decode(token, self._apps[issuer], algorithms=["RS256"], options={"require": ["exp", "iat", "iss"]})
        except jwt.PyJWTError:
            raise ApiError(401, "A JSON web token could not be decoded") from None
        return f"app:{issuer}"

    def _dispatch(self, ctx: Ctx) -> Reply:
        match = _APP_TOKEN.match(ctx.path)
        if match and ctx.method == "POST":
            return self._mint(ctx, int(match["installation"]))
        for method, pattern, handler in _ROUTES:
            found = pattern.match(ctx.path)
            if found and method == ctx.method:
                params = found.groupdict()
                repo = self.repos.get(f"{params.pop('owner')}/{params.pop('repo_name')}")
                if repo is None or ctx.login.startswith("app:"):
                    raise ApiError(404, "Not Found")
                return handler(ctx, repo, **{k: v for k, v in params.items() if v is not None})
        raise ApiError(404, "Not Found")

    def _mint(self, ctx: Ctx, installation_id: int) -> Reply:
        installation = self._installations.get(installation_id)
        if installation is None or ctx.login != f"app:{installation.app_id}":
            raise ApiError(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        expires = datetime.now(UTC) + timedelta(hours=1)
        self._minted[token] = (installation.login, expires)
        permissions = {"contents": "write", "issues": "write", "metadata": "read"}
        body = {
            "token": token,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": permissions,
            "repository_selection": "all",
        }
        return ok(body, 201)

    def _rate_headers(self) -> dict[str, str]:
        reset = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
        return {
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Used": "1",
            "X-RateLimit-Resource": "core",
        }


@contextlib.contextmanager
def serve_fake_github(fake: FakeGitHub, *, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``fake`` on 127.0.0.1 in a thread; yield its base URL (for ``base_url=`` of PyGithub)."""
    with fake.serve(timeout=timeout) as url:
        yield url

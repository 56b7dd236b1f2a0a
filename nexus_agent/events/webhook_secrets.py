"""Where the dispatcher finds each satellite's webhook secret: the environment, or a secret file.

The registry stores only the *name* of the variable (``endpoints.webhook_secret_env``);
the value lives in the environment the CLI passes down, or in a file named by
``<NAME>_FILE`` (first non-empty, non-comment line). An app that names no variable
uses ``SATELLITE_<SLUG>_WEBHOOK_SECRET`` (as its token defaults to ``SATELLITE_<SLUG>_TOKEN``).
Errors name the variable, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from nexus_agent.wire.errors import ConfigError
from nexus_agent.wire.models import AppRecord
from nexus_agent.wire.secret_env import SatelliteSecrets, secret_env_problem

__all__ = ["MIN_SECRET_LENGTH", "WebhookSecrets", "default_secret_env"]

MIN_SECRET_LENGTH = 16


def default_secret_env(slug: str) -> str:
    """``quote-engine`` -> ``SATELLITE_QUOTE_ENGINE_WEBHOOK_SECRET``."""
    return f"SATELLITE_{slug.upper().replace('-', '_')}_WEBHOOK_SECRET"


class WebhookSecrets:
    """A :data:`~nexus_agent.events.dispatcher.SecretResolver`: ``secrets("quote-engine") -> str``.

    ``WebhookSecrets(satellite_secrets, await registry.all())``; call :meth:`update` when the registry changes.
    Raises :class:`ConfigError` naming the variable when the secret is missing, unreadable or too short.
    """

    def __init__(
        self, env: Mapping[str, str], records: Iterable[AppRecord] = (), *, min_length: int = MIN_SECRET_LENGTH
    ) -> None:
        self._env = env
        self._min_length = min_length
        #: Names any app may use besides its own SATELLITE_<SLUG>_* (the owner's NEXUS_SECRET_ENV_ALLOW).
        self._allow = env.allow if isinstance(env, SatelliteSecrets) else frozenset()
        self._records: list[AppRecord] = []
        self._names: dict[str, str] = {}
        self._files: dict[str, str] = {}
        #: secret_env_problem per (slug, variable): it depends on the records alone, so it is kept until update().
        self._problems: dict[tuple[str, str], str | None] = {}
        self.update(records)

    def update(self, records: Iterable[AppRecord]) -> None:
        """Take the variable names from these records (and re-read secret files on next use)."""
        records = list(records)
        self._headers = {r.slug: r.endpoints.signature_header for r in records if r.endpoints.signature_header}
        self._records = list(records)
        self._names = {r.slug: r.endpoints.webhook_secret_env or default_secret_env(r.slug) for r in self._records}
        self._files.clear()
        self._problems = {}
        self._resolved: dict[str, str] = {}

    def signature_header(self, slug: str) -> str | None:
        """The header ``slug`` reads signatures from, when its registration names one (legacy apps)."""
        return self._headers.get(slug)

    def variable(self, slug: str) -> str:
        """The name of the variable holding ``slug``'s secret."""
        return self._names.get(slug) or default_secret_env(slug)

    def __call__(self, slug: str) -> str:
        resolved = self._resolved.get(slug)
        if resolved is not None:  # every message a legacy app is sent reads it: found once per registry
            return resolved
        resolved = self._resolved[slug] = self._resolve(slug)
        return resolved

    def _resolve(self, slug: str) -> str:
        name = self.variable(slug)
        key = (slug, name)
        if key not in self._problems:  # judged once per registry
            self._problems[key] = secret_env_problem(slug, name, self._allow, self._records)
        problem = self._problems[key]
        if problem is not None:  # enforced here too: the registry refuses it, but a row may predate that rule
            raise ConfigError(
                f"Nexus will not read the webhook secret of {slug} from {name}: {problem}",
                hint=f"Register {slug} with webhook_secret_env {default_secret_env(slug)} (or another of its own "
                "SATELLITE_<SLUG>_* variables), or add the name to NEXUS_SECRET_ENV_ALLOW.",
            )
        direct = self._env.get(name, "").strip()
        file_name = self._env.get(f"{name}_FILE", "").strip()
        if direct and file_name:
            raise ConfigError(f"both {name} and {name}_FILE are set", hint=f"Set only one of {name} and {name}_FILE.")
        if file_name:
            direct = self._read(file_name, f"{name}_FILE")
        if not direct:
            raise ConfigError(
                f"no webhook secret for {slug}: neither {name} nor {name}_FILE is set",
                hint=f"Set {name} (or {name}_FILE) to the secret {slug} verifies webhooks with, and restart Nexus.",
            )
        if len(direct) < self._min_length:
            raise ConfigError(
                f"the webhook secret of {slug} ({name}) is shorter than {self._min_length} characters",
                hint="Use a long random value, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`.",
            )
        return direct

    def _read(self, file_name: str, var: str) -> str:
        if file_name not in self._files:
            path = Path(file_name).expanduser()
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                raise ConfigError(
                    f"cannot read the secret file named by {var} ({path}): {reason}",
                    hint=f"Point {var} at a readable UTF-8 file holding the secret on its first line.",
                ) from None
            found = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
            self._files[file_name] = found[0] if found else ""
        return self._files[file_name]

"""How Nexus proves itself to GitHub: a personal access token, or a GitHub App installation.

Secrets arrive as arguments (the CLI reads them from the environment or a file)
and are held as :class:`~pydantic.SecretStr`: they never appear in ``repr``,
logs or error messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from nexus_agent.wire.errors import ConfigError

__all__ = ["DEFAULT_API_URL", "GitHubAppAuth", "GitHubAuth", "GitHubTokenAuth", "read_secret_file"]

DEFAULT_API_URL = "https://api.github.com"


def read_secret_file(path: Path | str, what: str) -> SecretStr:
    """The stripped content of a secret file, as a SecretStr; :class:`ConfigError` if unreadable or empty."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"cannot read the {what} file {file}: {reason}", hint="Point it at a readable file."
        ) from None
    if not text:
        raise ConfigError(f"the {what} file {file} is empty", hint=f"Put the {what} in it.")
    return SecretStr(text)


class GitHubTokenAuth(BaseModel):
    """A personal access token (fine-grained: Contents and Issues read/write on the truth repository)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["token"] = "token"
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("the GitHub token is empty")
        return SecretStr(value.get_secret_value().strip())

    def secrets(self) -> list[str]:
        return [self.token.get_secret_value()]


class GitHubAppAuth(BaseModel):
    """A GitHub App installed on the truth repository: app id, installation id and the app's private key (PEM)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    kind: Literal["app"] = "app"
    app_id: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")]
    installation_id: Annotated[int, Field(ge=1)]
    private_key: SecretStr

    @field_validator("private_key")
    @classmethod
    def _is_private_key(cls, value: SecretStr) -> SecretStr:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        pem = value.get_secret_value().strip()
        try:
            load_pem_private_key(pem.encode("utf-8"), password=None)
        except (ValueError, TypeError):
            # The key text must not reach the message: say only what is wrong with it.
            raise ValueError("the GitHub App private key is not an unencrypted PEM private key") from None
        return SecretStr(pem + "\n")

    @classmethod
    def from_file(cls, app_id: str | int, installation_id: int | str, key_file: Path | str) -> GitHubAppAuth:
        key = read_secret_file(key_file, "GitHub App private key")
        try:
            return cls(app_id=str(app_id), installation_id=int(installation_id), private_key=key)
        except ValueError as exc:
            raise ConfigError(
                f"the GitHub App settings are invalid: {_problems(exc)}",
                hint="Check NEXUS_GITHUB_APP_ID, NEXUS_GITHUB_INSTALLATION_ID and the private key file "
                "(download a new key from the app's settings page if needed).",
            ) from None

    def secrets(self) -> list[str]:
        return [self.private_key.get_secret_value().strip()]


def _problems(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors(include_input=False))
    return type(exc).__name__


GitHubAuth = Annotated[GitHubTokenAuth | GitHubAppAuth, Field(discriminator="kind")]

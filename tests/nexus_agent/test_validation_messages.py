"""Pydantic's messages, as Nexus words them (``nexus_agent.wire.errors.describe_validation_error``)."""

from __future__ import annotations

import pytest
from pydantic import AnyHttpUrl, BaseModel, ValidationError

from nexus_agent.wire.errors import describe_validation_error


class _Endpoint(BaseModel):
    url: AnyHttpUrl
    retries: int


def _problems(data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        _Endpoint.model_validate(data)
    return {e["field"]: e["problem"] for e in describe_validation_error(info.value)}


def test_an_acronym_keeps_its_case_and_a_sentence_starts_lower_case() -> None:
    problems = _problems({"url": "ftp://example.com", "retries": "many"})
    assert problems["url"].startswith("URL scheme should be"), problems["url"]
    assert problems["retries"].startswith("input should be a valid integer"), problems["retries"]

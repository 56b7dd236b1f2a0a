"""The scripted Anthropic fake refuses what the real API refuses, and fails loudly when out of script."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from nexus_agent.testing.fake_anthropic import FakeAnthropic, api_error, client_for, reply, text, tool_use

pytestmark = pytest.mark.anyio

TOOL = {"name": "quote-engine__list_quotes", "description": "List quotes", "input_schema": {"type": "object"}}


async def create(base_url: str, **request: Any) -> Any:
    async with client_for(base_url) as client:
        return await client.messages.create(model="claude-test", max_tokens=100, **request)


async def test_scripted_turns_come_back_through_the_real_sdk(fake_server: tuple[FakeAnthropic, str]) -> None:
    fake, base_url = fake_server
    fake.add(reply(tool_use("quote-engine__list_quotes", {"status": "sent"}, id="t1"), text("Listing.")))
    message = await create(base_url, messages=[{"role": "user", "content": "quotes?"}], tools=[TOOL])
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"status": "sent"} and message.usage.input_tokens > 0
    assert fake.requests[0]["tools"] == [TOOL] and "anthropic-version" in fake.headers[0]


@pytest.mark.parametrize(
    ("request_body", "problem"),
    [
        ({"tools": [{**TOOL, "name": "bad name!"}]}, "does not match"),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "x", "name": "t", "input": {}}]},
                    {"role": "user", "content": [{"type": "text", "text": "no result"}]},
                ]
            },
            "without tool_result",
        ),
        (
            {"system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}] * 5},
            "maximum of 4 blocks",
        ),
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "first message"),
    ],
)
async def test_requests_the_real_api_would_refuse_get_a_400(
    fake_server: tuple[FakeAnthropic, str], request_body: dict[str, Any], problem: str
) -> None:
    fake, base_url = fake_server
    fake.add(reply(text("unused")))
    body = {"messages": [{"role": "user", "content": "q"}], **request_body}
    with pytest.raises(anthropic.BadRequestError, match=problem):
        await create(base_url, **body)


async def test_scripted_errors_and_an_empty_script_fail_loudly(fake_server: tuple[FakeAnthropic, str]) -> None:
    fake, base_url = fake_server
    fake.add(api_error(429, "slow down", "rate_limit_error"))
    with pytest.raises(anthropic.RateLimitError):
        await create(base_url, messages=[{"role": "user", "content": "q"}])
    with pytest.raises(anthropic.InternalServerError, match="no more turns"):
        await create(base_url, messages=[{"role": "user", "content": "q"}])

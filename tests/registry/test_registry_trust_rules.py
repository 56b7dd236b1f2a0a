"""What a registration may store: allowed URLs, the app's own secret variables, commands only from the owner."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nexus_agent.outbound import OutboundPolicy
from nexus_agent.registry import SqliteRegistry
from nexus_agent.registry_policy import EndpointPolicy
from nexus_agent.wire.errors import Forbidden
from nexus_agent.wire.models import AppRecord, AppStatus
from nexus_agent.wire.secret_env import EnvOwners, SatelliteSecrets, app_env_prefix, check_secret_env, rival_slugs

pytestmark = pytest.mark.anyio

COMMAND = ["/usr/bin/mcp-server-stock", "--read-only"]


def stdio(slug: str = "stock", command: list[str] | None = None) -> AppRecord:
    return AppRecord(slug=slug, name="Stock", status=AppStatus.active, endpoints={"mcp_command": command or COMMAND})


async def test_a_command_from_anyone_but_the_local_owner_is_refused(registry: SqliteRegistry) -> None:
    with pytest.raises(Forbidden) as refused:
        await registry.register(stdio(), "satellite-token")
    assert "mcp_command" in refused.value.message and refused.value.details["rule"] == "command-owner-local"
    assert await registry.trusted_commands() == {}


async def test_the_owners_command_is_recorded_with_who_set_it_and_shown(registry: SqliteRegistry) -> None:
    result = await registry.register(stdio(), "owner", may_set_command=True)
    assert any("runs the command `/usr/bin/mcp-server-stock --read-only`" in n for n in result.notes)
    assert await registry.trusted_commands() == {"stock": COMMAND}
    # Data re-registering the same record is fine; changing the command is not.
    again = await registry.register(stdio(), "truth-sync")
    assert again.action == "unchanged"
    with pytest.raises(Forbidden):
        await registry.register(stdio(command=["/bin/sh", "-c", "id"]), "truth-sync")
    assert await registry.trusted_commands() == {"stock": COMMAND}


async def test_dropping_the_command_drops_its_provenance(registry: SqliteRegistry) -> None:
    await registry.register(stdio(), "owner", may_set_command=True)
    record = AppRecord(slug="stock", name="Stock", endpoints={"mcp_url": "https://stock.example.com/mcp"})
    await registry.register(record, "satellite-token")
    assert await registry.trusted_commands() == {}


async def test_every_endpoint_url_passes_the_outbound_policy(registry: SqliteRegistry) -> None:
    for field in ("mcp_url", "health_url", "webhook_url", "message_handler_url"):
        record = AppRecord(slug="meta", name="Meta", endpoints={field: "http://169.254.169.254/"})
        with pytest.raises(Forbidden, match=f"endpoints.{field} of 'meta'"):
            await registry.register(record, "owner", may_set_command=True)


async def test_private_addresses_follow_the_owners_setting(database) -> None:
    record = AppRecord(slug="lan", name="LAN", endpoints={"mcp_url": "http://10.1.2.3:8800/mcp"})
    with pytest.raises(Forbidden, match="private addresses"):
        await SqliteRegistry(database).register(record, "owner")
    allowing = SqliteRegistry(database, policy=EndpointPolicy(OutboundPolicy(allow_private=True)))
    assert (await allowing.register(record, "owner")).action == "created"


@pytest.mark.parametrize(
    ("slug", "name", "ok"),
    [
        ("quote-engine", "SATELLITE_QUOTE_ENGINE_TOKEN", True),
        ("quote-engine", "SATELLITE_QUOTE_ENGINE_ANY_NAME", True),
        ("quote-engine", "NEXUS_GITHUB_WEBHOOK_SECRET", False),
        ("quote-engine", "ANTHROPIC_API_KEY", False),
        ("quote-engine", "SATELLITE_STOCK_TOKEN", False),  # another app's
        ("quote-engine", "SATELLITE_QUOTE_ENGINE_", False),
        ("quote", "SATELLITE_QUOTE_ENGINE_TOKEN", False),  # under the longer prefix of the registered quote-engine
        ("quote", "SATELLITE_QUOTE_TOKEN", True),
    ],
)
def test_an_app_may_name_only_its_own_variables(slug: str, name: str, ok: bool) -> None:
    others = [AppRecord(slug="quote-engine", name="QE"), AppRecord(slug="stock", name="Stock")]
    record = AppRecord(slug=slug, name=slug, endpoints={"token_env": name})
    if ok:
        check_secret_env(record, others=others)
    else:
        with pytest.raises(Forbidden) as refused:
            check_secret_env(record, others=others)
        assert name in refused.value.message and app_env_prefix(slug) in (refused.value.hint or "")


async def test_the_registry_refuses_a_foreign_variable_and_the_allow_list_admits_one(database) -> None:
    record = AppRecord(slug="quote-engine", name="QE", endpoints={"webhook_secret_env": "SHARED_PARTNER_SECRET"})
    with pytest.raises(Forbidden, match="SHARED_PARTNER_SECRET"):
        await SqliteRegistry(database).register(record, "owner")
    allowing = SqliteRegistry(database, policy=EndpointPolicy(secret_env_allow=frozenset({"SHARED_PARTNER_SECRET"})))
    assert (await allowing.register(record, "owner")).action == "created"


def test_satellite_secrets_hold_only_satellite_and_allow_listed_variables() -> None:
    env = {
        "SATELLITE_QUOTE_ENGINE_TOKEN": "t" * 20,
        "NEXUS_GITHUB_WEBHOOK_SECRET": "g" * 20,
        "ANTHROPIC_API_KEY": "a" * 20,
        "SHARED": "s" * 20,
        "SHARED_FILE": "/run/secrets/shared",
        "PATH": "/usr/bin",
    }
    secrets = SatelliteSecrets.from_env(env, allow=["SHARED"])
    assert set(secrets) == {"SATELLITE_QUOTE_ENGINE_TOKEN", "SHARED", "SHARED_FILE"}
    assert "t" * 20 not in repr(secrets)
    qe = AppRecord(slug="quote-engine", name="QE")
    assert secrets.for_app("quote-engine", "SATELLITE_QUOTE_ENGINE_TOKEN", [qe]) == "t" * 20
    assert secrets.for_app("stock", "SATELLITE_QUOTE_ENGINE_TOKEN", [qe]) is None  # not stock's to read
    assert secrets.for_app("stock", "NEXUS_GITHUB_WEBHOOK_SECRET") is None


# -- who owns a variable: the registry reads only the apps that could (indexed), with the same rules -----------
@pytest.fixture
def registry_with(engine: str, request: pytest.FixtureRequest) -> Callable[[EndpointPolicy], SqliteRegistry]:
    """Another registry on the test's database (each engine) with the given policy."""

    def make(policy: EndpointPolicy) -> SqliteRegistry:
        if engine == "postgresql":
            from nexus_agent.registry_pg import PgRegistry

            return PgRegistry(request.getfixturevalue("pg_database"), policy=policy)
        return SqliteRegistry(request.getfixturevalue("database"), policy=policy)

    return make


def app(slug: str, **endpoints: str) -> AppRecord:
    return AppRecord(slug=slug, name=slug, endpoints=endpoints)


async def test_a_name_under_another_apps_longer_prefix_is_refused(registry: SqliteRegistry) -> None:
    await registry.register(app("quote-engine"), "owner")
    with pytest.raises(Forbidden, match="belongs to the app 'quote-engine'"):
        await registry.register(app("quote", token_env="SATELLITE_QUOTE_ENGINE_TOKEN"), "owner")
    # A default name of a shorter-slugged app: 'ledger' owns SATELLITE_LEDGER_WEBHOOK_SECRET.
    await registry.register(app("ledger"), "owner")
    with pytest.raises(Forbidden, match="belongs to the app 'ledger'"):
        await registry.register(app("ledger-webhook", webhook_secret_env="SATELLITE_LEDGER_WEBHOOK_SECRET"), "owner")
    assert (await registry.register(app("quote", token_env="SATELLITE_QUOTE_TOKEN"), "owner")).action == "created"


async def test_a_name_another_app_uses_is_refused(
    registry: SqliteRegistry, registry_with: Callable[[EndpointPolicy], SqliteRegistry]
) -> None:
    # 'billing' took SATELLITE_QUOTE_KEY while the owner allow-listed it; the list changed since.
    allowing = registry_with(EndpointPolicy(secret_env_allow=frozenset({"SATELLITE_QUOTE_KEY"})))
    await allowing.register(app("billing", webhook_secret_env="SATELLITE_QUOTE_KEY"), "owner")
    with pytest.raises(Forbidden, match="belongs to the app 'billing'"):
        await registry.register(app("quote", token_env="SATELLITE_QUOTE_KEY"), "owner")
    with pytest.raises(Forbidden, match="belongs to the app 'billing'"):
        await registry.register(app("quote", webhook_secret_env="SATELLITE_QUOTE_KEY"), "owner")
    assert [r.slug for r in await registry.all()] == ["billing"]


async def test_the_registry_decides_as_the_rule_over_every_record_does(
    registry: SqliteRegistry, registry_with: Callable[[EndpointPolicy], SqliteRegistry]
) -> None:
    allow = frozenset({"SATELLITE_A_B_SHARED"})
    allowing = registry_with(EndpointPolicy(secret_env_allow=allow))
    await allowing.register(app("zeta", token_env="SATELLITE_A_B_SHARED"), "owner")
    await registry.register(app("a-b-c", token_env="SATELLITE_A_B_C_KEY"), "owner")
    names = ["SATELLITE_A_TOKEN", "SATELLITE_A_B_TOKEN", "SATELLITE_A_B_C_KEY", "SATELLITE_A_B_SHARED", "SATELLITE_A_X"]
    names += ["SATELLITE_A_WEBHOOK_SECRET", "SATELLITE_A_B_C_D_TOKEN", "SATELLITE_AB_TOKEN", "SATELLITE_A__B_TOKEN"]
    for slug in ("a", "a-b", "a-webhook", "ab", "a-b-c-d", "a--b"):
        for field in ("token_env", "webhook_secret_env"):
            for name in names:
                record = app(slug, **{field: name})
                try:  # the rule applied to every other stored record, as before the registry narrowed its read
                    check_secret_env(record, others=await registry.all())
                    expected = None
                except Forbidden as refused:
                    expected = refused.message
                try:
                    await registry.register(record, "owner")
                    got = None
                except Forbidden as refused:
                    got = refused.message
                assert got == expected, (slug, field, name)


def _verdict(record: AppRecord, others: list[AppRecord]) -> str | None:
    try:
        check_secret_env(record, others=others)
    except Forbidden as refused:
        return refused.message
    return None


def test_the_pools_narrowed_check_decides_as_the_rule_over_every_record_does() -> None:
    """A pool sync checks every app against only the records that could own its names (EnvOwners): same
    verdicts as against every record, for tokens, webhook secrets and stdio environments alike."""
    names = ["SATELLITE_A_TOKEN", "SATELLITE_A_B_TOKEN", "SATELLITE_A_B_C_KEY", "SATELLITE_A_X", "SATELLITE_AB_TOKEN"]
    names += ["SATELLITE_A_WEBHOOK_SECRET", "SATELLITE_A_B_C_D_TOKEN", "SATELLITE_A__B_TOKEN", "SATELLITE_Q_KEY"]
    stored = [app("a-b-c", token_env="SATELLITE_A_B_C_KEY"), app("zeta", webhook_secret_env="SATELLITE_Q_KEY")]
    stored += [app(f"filler-{i}") for i in range(20)]
    refused = 0
    for slug in ("a", "a-b", "a-webhook", "ab", "a-b-c-d", "a--b", "q"):
        for name in names:
            for record in (
                app(slug, token_env=name),
                app(slug, webhook_secret_env=name),
                AppRecord(slug=slug, name=slug, endpoints={"mcp_command": ["srv"], "mcp_env": {"KEY": name}}),
            ):
                everyone = [*stored, record]
                expected = _verdict(record, [r for r in everyone if r.slug != record.slug])
                got = _verdict(record, EnvOwners(everyone).relevant(record))
                assert (got is None) == (expected is None), (slug, name, expected, got)
                refused += expected is not None
    assert refused > 50  # the cases do exercise refusals, not only names that pass


def test_the_apps_that_could_own_a_name_are_read_from_the_name() -> None:
    assert rival_slugs("SATELLITE_QUOTE_ENGINE_TOKEN") == ["quote", "quote-engine"]
    assert rival_slugs("SATELLITE_A__B_TOKEN") == ["a", "a--b"]  # 'a-' is no slug
    assert rival_slugs("SATELLITE_Quote_TOKEN") == []  # no app's prefix is lower-case
    assert rival_slugs("ANTHROPIC_API_KEY") == []


def live(**changes: object) -> AppRecord:
    base = {
        "slug": "stock-ledger",
        "name": "Stock ledger",
        "status": AppStatus.active,
        "description": "Stock levels",
        "endpoints": {"mcp_url": "https://stock.example.com/mcp"},
        "message_types": ["query.stock_level"],
    }
    return AppRecord.model_validate({**base, **changes})


async def test_an_apps_own_change_to_its_live_record_goes_back_to_review(registry: SqliteRegistry) -> None:
    await registry.register(live(), "owner")
    change = live(status=AppStatus.active, message_types=["query.stock_level", "query.purge_all_stock"])
    result = await registry.register(change, "stock-ledger", review=True)
    assert result.app.status is AppStatus.pending and result.status_change is not None
    assert (await registry.get("stock-ledger")).status is AppStatus.pending  # not offered until approved
    assert any("until the owner approves" in n for n in result.notes)
    # Announcing the same record again changes nothing; only the owner's approval brings it back.
    assert (await registry.register(change, "stock-ledger", review=True)).action == "unchanged"
    await registry.set_status("stock-ledger", AppStatus.active, "owner", "reviewed the new message type")
    assert (await registry.get("stock-ledger")).status is AppStatus.active
    assert (await registry.register(change, "stock-ledger", review=True)).action == "unchanged"


async def test_a_suspended_app_may_not_change_its_own_record(registry: SqliteRegistry) -> None:
    await registry.register(live(), "owner")
    await registry.set_status("stock-ledger", AppStatus.suspended, "owner", "misbehaved")
    with pytest.raises(Forbidden, match="suspended"):
        await registry.register(live(description="Trust me"), "stock-ledger", review=True)
    assert (await registry.get("stock-ledger")).status is AppStatus.suspended


async def test_an_mcp_env_source_that_is_not_the_apps_own_is_refused_at_registration(registry: SqliteRegistry) -> None:
    foreign = {"mcp_command": COMMAND, "mcp_env": {"API_TOKEN": "NEXUS_GITHUB_WEBHOOK_SECRET"}}
    record = AppRecord(slug="stock", name="Stock", status=AppStatus.active, endpoints=foreign)
    with pytest.raises(Forbidden) as refused:
        await registry.register(record, "owner", may_set_command=True)
    assert refused.value.details == {"field": "endpoints.mcp_env", "rule": "secret-env"}
    assert "SATELLITE_STOCK_" in (refused.value.hint or "")
    own = {"mcp_command": COMMAND, "mcp_env": {"API_TOKEN": "SATELLITE_STOCK_API_TOKEN"}}
    mine = AppRecord(slug="stock", name="Stock", status=AppStatus.active, endpoints=own)
    stored = await registry.register(mine, "owner", may_set_command=True)
    assert stored.app.endpoints.mcp_env == {"API_TOKEN": "SATELLITE_STOCK_API_TOKEN"}

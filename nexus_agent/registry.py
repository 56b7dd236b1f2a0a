"""The app registry: every satellite Nexus knows about, planned or live.

Records live in the Nexus database (tables and migrations: :mod:`nexus_agent.registry_schema`).
Placeholders are first-class rows. Every write runs the rules in one transaction: the endpoint
policy (:mod:`nexus_agent.registry_policy`: allowed URLs, the app's own secret variables, commands
only from the owner), the status lifecycle (:mod:`nexus_agent.registry_lifecycle`) and the secret
guard. :mod:`nexus_agent.registry_pg` runs the same rules on PostgreSQL.
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

import sqlite_utils
from pydantic import ValidationError

from memory.database import Database
from nexus_agent.registry_lifecycle import (
    REACTIVATE_TO,
    TRANSITIONS,
    check_transition,
    registered_status,
    review_note,
    review_status,
)
from nexus_agent.registry_policy import EndpointPolicy, check_command, command_note
from nexus_agent.registry_schema import (
    REGISTRY_MIGRATIONS,
    SECRET_ENV_SQL,
    capability_words,
    fts_query,
    fts_row,
)
from nexus_agent.wire.errors import Conflict, InvalidInput, NotFound, StorageError
from nexus_agent.wire.models import (
    PLANNED_STATUSES,
    AppFilter,
    AppPage,
    AppRecord,
    AppStatus,
    FieldChange,
    RegisterResult,
    StatusChange,
    slugify,
    utcnow,
)
from nexus_agent.wire.registration_file import load_app_record
from nexus_agent.wire.secret_env import rival_slugs
from nexus_agent.wire.secret_guard import KnownSecrets, ensure_no_secrets

__all__ = [
    "REACTIVATE_TO",
    "REGISTRY_MIGRATIONS",
    "TRANSITIONS",
    "AppFilter",
    "AppPage",
    "FieldChange",
    "RegisterResult",
    "Registry",
    "SqliteRegistry",
    "load_app_record",
]


# -- the protocol ----------------------------------------------------------------
class Registry(Protocol):
    """Where Nexus keeps its app records. :class:`SqliteRegistry` is the default."""

    async def register(
        self, record: AppRecord, actor: str, reason: str = "", *, may_set_command: bool = False, review: bool = False
    ) -> RegisterResult: ...
    async def trusted_commands(self) -> dict[str, builtins.list[str]]: ...
    async def get(self, slug: str) -> AppRecord: ...
    async def list(self, filter: AppFilter | None = None) -> AppPage: ...
    async def set_status(
        self, slug: str, status: AppStatus | str, actor: str, reason: str, *, reactivate: bool = False
    ) -> StatusChange: ...
    async def history(self, slug: str) -> builtins.list[StatusChange]: ...
    async def detail(self, slug: str) -> tuple[AppRecord, builtins.list[StatusChange]]: ...
    async def count_by_status(self) -> dict[str, int]: ...
    async def all(self) -> builtins.list[AppRecord]: ...


# -- helpers -------------------------------------------------------------------
def _checked(value: str, what: str, *, required: bool, limit: int) -> str:
    value = (value or "").strip()
    if len(value) > limit or (required and not value):
        raise InvalidInput(f"{what} must be {int(required)}..{limit} characters", hint=f"Say {_SAYS[what]}.")
    return value


_SAYS = {"actor": "who makes the change, e.g. 'owner'", "reason": "briefly why, e.g. 'deployed'"}


def _is_empty(value: object) -> bool:
    return value in (None, "", [], {}) or (isinstance(value, dict) and all(v is None for v in value.values()))


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, FieldChange]:
    skip = {"created_at", "updated_at"}
    return {
        k: FieldChange(old=old.get(k), new=new.get(k))
        for k in new
        if k not in skip and old.get(k) != new.get(k) and not (not old and _is_empty(new.get(k)))
    }


# -- the SQLite registry ---------------------------------------------------------
#: Parsed records kept by a SqliteRegistry (cleared when full).
_PARSED_MAX = 20_000


class SqliteRegistry:
    """The registry in the Nexus SQLite database. Apply :data:`REGISTRY_MIGRATIONS` first."""

    #: A stored record's token_env and webhook_secret_env as SQL (indexed; PgRegistry says it its way).
    _SECRET_ENV_SQL: tuple[str, ...] = SECRET_ENV_SQL

    def __init__(
        self,
        database: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        policy: EndpointPolicy | None = None,
        known_secrets: KnownSecrets | None = None,
    ) -> None:
        self._db = database
        self._clock = clock
        self._policy = policy or EndpointPolicy()
        self._known = known_secrets  # configured secret values no registration may store
        #: slug -> (stored JSON, the record parsed from it): reading 500 or 5,000 apps re-parses only the
        #: records whose stored text changed (parsing was ~0.1 ms per app, most of registry_list/all()).
        self._parsed: dict[str, tuple[str, AppRecord]] = {}

    # async API: each call runs its sync body in a worker thread; writes are committed on return
    async def register(
        self, record: AppRecord, actor: str, reason: str = "", *, may_set_command: bool = False, review: bool = False
    ) -> RegisterResult:
        """Store ``record``; ``may_set_command`` only for the owner on the local CLI or stdio server.

        ``review`` (a satellite's own registration): a change to an app past review sends it back to
        ``pending``, so it is not offered until the owner approves it again (:func:`review_status`).
        """
        return await self._db.run(
            self.register_sync, record, actor, reason, may_set_command=may_set_command, review=review
        )

    async def trusted_commands(self) -> dict[str, builtins.list[str]]:
        """slug -> the mcp_command the owner set for it (the only commands the satellite pool may run)."""
        return await self._db.run(self.trusted_commands_sync)

    async def get(self, slug: str) -> AppRecord:
        found = await self._db.run_point(self._get_if_known, slug)  # a point read; see detail()
        return found if found is not None else await self._db.run(self.get_sync, slug)

    async def detail(self, slug: str) -> tuple[AppRecord, builtins.list[StatusChange]]:
        """The record and its status history, read together (one snapshot, one trip to the database).

        A point read: on SQLite it runs on the event loop when the database is free
        (:meth:`~memory.database.Database.run_point`); an unknown slug is looked up again in the worker thread,
        which raises NotFound with the close matches (a scan of every slug)."""
        found = await self._db.run_point(self._detail_if_known, slug)
        return found if found is not None else await self._db.run(self.detail_sync, slug)

    async def list(self, filter: AppFilter | None = None) -> AppPage:
        return await self._db.run(self.list_sync, filter or AppFilter())

    async def set_status(
        self, slug: str, status: AppStatus | str, actor: str, reason: str, *, reactivate: bool = False
    ) -> StatusChange:
        return await self._db.run(self.set_status_sync, slug, status, actor, reason, reactivate=reactivate)

    async def history(self, slug: str) -> builtins.list[StatusChange]:
        return await self._db.run(self.history_sync, slug)

    async def count_by_status(self) -> dict[str, int]:
        return await self._db.run(self.count_by_status_sync)

    async def all(self) -> builtins.list[AppRecord]:
        return await self._db.run(self.all_sync)

    # sync bodies: each runs in one transaction (write() commits before returning)
    def register_sync(
        self, record: AppRecord, actor: str, reason: str = "", *, may_set_command: bool = False, review: bool = False
    ) -> RegisterResult:
        actor = _checked(actor, "actor", required=True, limit=200)
        reason = _checked(reason, "reason", required=False, limit=4000)
        if review and record.status not in PLANNED_STATUSES:  # under review, it can only ask to be reviewed
            record = record.model_copy(update={"status": AppStatus.pending})
        with self._db.write() as db:
            old = self._load(db, record.slug)
            notes_before = self._apply_policy(db, record, old, actor, may_set_command)
            now = self._clock()
            data = record.model_dump()
            data["status"], status_notes = registered_status(record, old)
            notes = notes_before + status_notes
            data["created_at"] = old.created_at if old else (record.created_at or now)
            data["updated_at"] = old.updated_at if old else now
            try:
                new = AppRecord.model_validate(data)
            except ValidationError as exc:
                raise InvalidInput.from_validation(exc, f"registration of '{record.slug}'") from exc
            changes = _diff(old.model_dump(mode="json") if old else {}, new.model_dump(mode="json"))
            if old is not None and not changes:
                return RegisterResult(action="unchanged", app=old, notes=notes)
            sent_back = review and old is not None and review_status(old) is not None
            if sent_back and old is not None:
                new = new.model_copy(update={"status": AppStatus.pending})
                changes["status"] = FieldChange(old=old.status.value, new=AppStatus.pending.value)
                notes = [*notes_before, review_note(old)]  # not "status was not applied": it was, to pending
            change = None
            if old is None or old.status != new.status:
                if old is not None and not sent_back:
                    check_transition(new.slug, old.status, new.status, reactivate=False)
                default = "registered" if old is None else "status changed by re-registration"
                default = (
                    "sent back for the owner's review: the app changed its own registration" if sent_back else default
                )
                change = StatusChange(
                    slug=new.slug,
                    old_status=old.status if old else None,
                    new_status=new.status,
                    changed_by=actor,
                    reason=reason or default,
                    changed_at=now,
                )
            new = new.model_copy(update={"updated_at": now})
            ensure_no_secrets(new.model_dump(mode="json"), f"registration of {new.slug}", "register", known=self._known)
            if change is not None:
                ensure_no_secrets(change.reason, f"status reason of {new.slug}", "register", known=self._known)
            self._save(db, new, change)
        action = "created" if old is None else "updated"
        return RegisterResult(
            action=action, app=new, changed_fields=[*changes], changes=changes, status_change=change, notes=notes
        )

    def get_sync(self, slug: str) -> AppRecord:
        with self._db.read() as db:
            return self._require(db, slug)

    def list_sync(self, filter: AppFilter) -> AppPage:
        for name in ("text", "capability"):
            if getattr(filter, name) and not re.search(r"[^\W_]", getattr(filter, name)):
                raise InvalidInput(f"the {name} filter has no letters or digits", hint="Give a word, e.g. 'quote'.")
        join, where, params, order = self._list_query(filter)
        base = f"FROM apps a {join} WHERE {' AND '.join(where)}"
        statuses = [s.value for s in filter.status]
        status_sql = f" AND a.status IN ({', '.join('?' * len(statuses))})" if statuses else ""
        with self._page_snapshot() as db:  # one snapshot for the counts and the page
            counts = dict(db.execute(f"SELECT a.status, count(*) {base} GROUP BY a.status", params).fetchall())
            rows = db.execute(
                f"SELECT a.slug, a.record {base}{status_sql} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, *statuses, filter.limit, filter.offset],
            ).fetchall()
        items = [self._parse(slug, raw) for slug, raw in rows]
        total = sum(n for s, n in counts.items() if not statuses or s in statuses)
        end = filter.offset + len(items)
        return AppPage(
            items=items,
            total=total,
            limit=filter.limit,
            offset=filter.offset,
            next_offset=end if end < total else None,
            status_counts={s.value: counts.get(s.value, 0) for s in AppStatus},
        )

    @contextlib.contextmanager
    def _page_snapshot(self) -> Iterator[Any]:
        with self._db.read() as db, db.atomic():
            yield db

    def _list_query(self, filter: AppFilter) -> tuple[str, builtins.list[str], builtins.list[Any], str]:
        """The engine's SQL for the filter: (join, where clauses, parameters, order)."""
        where: builtins.list[str] = ["1 = 1"]
        params: builtins.list[Any] = []
        join, order = "", "a.slug"
        if filter.text:
            join = "JOIN (SELECT slug, bm25(apps_fts) AS rank FROM apps_fts WHERE apps_fts MATCH ?) f USING (slug)"
            params.append(fts_query(filter.text))
            order = "f.rank, a.slug"
        if filter.category:
            where.append("a.category = ? COLLATE NOCASE")
            params.append(filter.category)
        if filter.capability:
            words = capability_words(filter.capability)
            test = " AND ".join("instr(lower(json_extract(c.value, '$.name')), ?) > 0" for _ in words)
            where.append(f"EXISTS (SELECT 1 FROM json_each(a.record, '$.capabilities') c WHERE {test})")
            params.extend(words)
        return join, where, params, order

    def set_status_sync(
        self, slug: str, status: AppStatus | str, actor: str, reason: str, *, reactivate: bool = False
    ) -> StatusChange:
        actor = _checked(actor, "actor", required=True, limit=200)
        reason = _checked(reason, "reason", required=True, limit=4000)
        try:
            status = AppStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in AppStatus)
            raise InvalidInput(f"{status!r} is not an app status", hint=f"Use one of: {allowed}.") from None
        with self._db.write() as db:
            current = self._require(db, slug)
            past = self._history(db, slug) if current.status == status else []
            if past:  # idempotent: already there; report how it got there and write nothing
                return past[-1]
            check_transition(slug, current.status, status, reactivate)
            now = self._clock()
            try:
                updated = AppRecord.model_validate({**current.model_dump(), "status": status, "updated_at": now})
            except ValidationError as exc:
                problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors(include_url=False))
                raise Conflict(
                    f"'{slug}' cannot become {status.value}: {problems}",
                    hint="Register its endpoints (mcp_url, mcp_command or health_url) first, then change the status.",
                ) from exc
            change = StatusChange(
                slug=slug, old_status=current.status, new_status=status, changed_by=actor, reason=reason, changed_at=now
            )
            self._save(db, updated, change)
        return change

    def detail_sync(self, slug: str) -> tuple[AppRecord, builtins.list[StatusChange]]:
        with self._db.read() as db:
            return self._require(db, slug), self._history(db, slug)

    def _get_if_known(self, slug: str) -> AppRecord | None:
        with self._db.read() as db:
            return self._load(db, slug)

    def _detail_if_known(self, slug: str) -> tuple[AppRecord, builtins.list[StatusChange]] | None:
        with self._db.read() as db:
            record = self._load(db, slug)
            return None if record is None else (record, self._history(db, slug))

    def history_sync(self, slug: str) -> builtins.list[StatusChange]:
        with self._db.read() as db:
            self._require(db, slug)
            return self._history(db, slug)

    def count_by_status_sync(self) -> dict[str, int]:
        with self._db.read() as db:
            counts = dict(db.execute("SELECT status, count(*) FROM apps GROUP BY status").fetchall())
        return {s.value: counts.get(s.value, 0) for s in AppStatus}

    def trusted_commands_sync(self) -> dict[str, builtins.list[str]]:
        with self._db.read() as db:
            rows = db.execute("SELECT slug, command FROM app_commands").fetchall()
        return {slug: json.loads(command) for slug, command in rows}

    def all_sync(self) -> builtins.list[AppRecord]:
        with self._db.read() as db:
            rows = db.execute("SELECT slug, record FROM apps ORDER BY slug").fetchall()
        return [self._parse(slug, raw) for slug, raw in rows]

    # internals (called inside read()/write(), with the database lock held)
    def _apply_policy(
        self, db: sqlite_utils.Database, record: AppRecord, old: AppRecord | None, actor: str, may_set: bool
    ) -> builtins.list[str]:
        """Refuse what the endpoint policy forbids; record who set a command. Returns notes for the owner."""
        self._policy.check(record, self._rivals(db, record))
        check_command(record, old, may_set=may_set)
        command = record.endpoints.mcp_command
        if not command:
            db.execute("DELETE FROM app_commands WHERE slug = ?", [record.slug])
            return []
        if may_set:
            row = {"slug": record.slug, "command": json.dumps(command), "set_by": actor, "set_at": str(self._clock())}
            db.table("app_commands").upsert(row, pk="slug")
            return [command_note(command)]
        return []

    def _rivals(self, db: sqlite_utils.Database, record: AppRecord) -> builtins.list[AppRecord]:
        """The other apps that could own a secret variable the record names: those whose prefix starts the
        name and those whose record names it. Index lookups, so a registration does not read every record."""
        names = self._policy.secret_names(record)
        if not names:
            return []
        slugs = sorted({slug for name in names for slug in rival_slugs(name)} - {record.slug})
        marks = ", ".join("?" * len(names))
        queries = [f"SELECT slug, record FROM apps WHERE {column} IN ({marks})" for column in self._SECRET_ENV_SQL]
        params = names * len(queries)
        if slugs:
            queries.append(f"SELECT slug, record FROM apps WHERE slug IN ({', '.join('?' * len(slugs))})")
            params += slugs
        rows = db.execute(" UNION ".join(queries) + " ORDER BY slug", params).fetchall()
        return [self._parse(slug, raw) for slug, raw in rows if slug != record.slug]

    def _load(self, db: sqlite_utils.Database, slug: str) -> AppRecord | None:
        row = db.execute("SELECT record FROM apps WHERE slug = ?", [slug]).fetchone()
        return None if row is None else self._parse(slug, row[0])

    def _require(self, db: sqlite_utils.Database, slug: str) -> AppRecord:
        record = self._load(db, slug)
        if record is not None:
            return record
        known = [r[0] for r in db.execute("SELECT slug FROM apps ORDER BY slug")]
        close = difflib.get_close_matches(slug.lower(), known, n=3, cutoff=0.6)
        close += [s for s in difflib.get_close_matches(slugify(slug), known, n=3, cutoff=0.6) if s not in close]
        if close:
            hint = "Did you mean " + " or ".join(f"'{s}'" for s in close[:3]) + "?"
        else:
            hint = f"None of the {len(known)} registered slugs is close; list the apps to find it, or register it."
        raise NotFound(f"no app with slug {slug!r} is registered", hint=hint)

    def _history(self, db: sqlite_utils.Database, slug: str) -> builtins.list[StatusChange]:
        keys = ("slug", "old_status", "new_status", "changed_by", "reason", "changed_at")
        sql = f"SELECT {', '.join(keys)} FROM app_status_history WHERE slug = ? ORDER BY id"
        return [StatusChange.model_validate(dict(zip(keys, row, strict=True))) for row in db.execute(sql, [slug])]

    def _parse(self, slug: str, raw: str) -> AppRecord:
        """The record stored as ``raw``; callers get their own (shallow) copy, never the memo's instance."""
        known = self._parsed.get(slug)
        if known is not None and known[0] == raw:
            return known[1].model_copy()
        try:
            record = AppRecord.model_validate_json(raw)
        except ValidationError as exc:
            raise StorageError(
                f"the stored registry record of '{slug}' is unreadable ({exc.error_count()} invalid fields)",
                hint="Re-register the app to overwrite the damaged record.",
            ) from exc
        if len(self._parsed) >= _PARSED_MAX:
            self._parsed.clear()
        self._parsed[slug] = (raw, record)
        return record.model_copy()

    def _save(self, db: sqlite_utils.Database, record: AppRecord, change: StatusChange | None) -> None:
        columns = record.model_dump(
            mode="json", include={"slug", "name", "category", "status", "created_at", "updated_at"}
        )
        db.table("apps").upsert({**columns, "record": record.model_dump_json()}, pk="slug")
        db.execute("DELETE FROM apps_fts WHERE slug = ?", [record.slug])
        db.execute("INSERT INTO apps_fts VALUES (?, ?, ?, ?, ?, ?)", fts_row(record))
        if change is not None:
            db.table("app_status_history").insert(change.model_dump(mode="json"))

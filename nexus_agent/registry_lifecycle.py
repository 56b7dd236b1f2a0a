"""The status lifecycle of a registered app: which moves are allowed, and what a registration may change.

Status lifecycle, enforced by :meth:`~nexus_agent.registry.SqliteRegistry.set_status`::

    placeholder -> pending | approved | active | retired
    pending     -> placeholder | approved | active | retired
    approved    -> pending | active | suspended | retired
    active      -> degraded | suspended | retired
    degraded    -> active | suspended | retired
    suspended   -> approved | active | degraded | retired
    retired     -> (terminal) placeholder | pending | approved only with reactivate=True

``active`` and ``degraded`` also need a reachable endpoint (the AppRecord rule).

A registration sets the status of a new app. A re-registration that names no
status keeps the current one; one that names another status applies it (by the
rules above) only while the app is placeholder or pending. Past that, status is
the owner's call through ``set_status``: the registration is still applied and
``RegisterResult.notes`` says its status was not, so a satellite that always
announces itself as 'pending' cannot demote, un-suspend or revive itself.

A satellite's own registration goes through review (``register(..., review=True)``): a change
to an app past pending sends it back to ``pending`` (its tools are not offered) until the owner
approves it again with ``set_status``; a suspended or retired app cannot change itself at all.
An unchanged re-registration changes nothing.
"""

from __future__ import annotations

from nexus_agent.wire.errors import Conflict, Forbidden
from nexus_agent.wire.models import PLANNED_STATUSES, AppRecord, AppStatus

__all__ = ["REACTIVATE_TO", "TRANSITIONS", "check_transition", "registered_status", "review_note", "review_status"]

_S = AppStatus
#: Allowed status moves; ``retired`` leaves only through ``reactivate=True`` (see :data:`REACTIVATE_TO`).
TRANSITIONS: dict[AppStatus, frozenset[AppStatus]] = {
    _S.placeholder: frozenset({_S.pending, _S.approved, _S.active, _S.retired}),
    _S.pending: frozenset({_S.placeholder, _S.approved, _S.active, _S.retired}),
    _S.approved: frozenset({_S.pending, _S.active, _S.suspended, _S.retired}),
    _S.active: frozenset({_S.degraded, _S.suspended, _S.retired}),
    _S.degraded: frozenset({_S.active, _S.suspended, _S.retired}),
    _S.suspended: frozenset({_S.approved, _S.active, _S.degraded, _S.retired}),
    _S.retired: frozenset(),
}
REACTIVATE_TO = frozenset({_S.placeholder, _S.pending, _S.approved})


def check_transition(slug: str, old: AppStatus, new: AppStatus, reactivate: bool) -> None:
    """Raise ``Conflict`` (saying where the app may go instead) when ``old -> new`` is not allowed."""
    if old is _S.retired:
        if reactivate and new in REACTIVATE_TO:
            return
        allowed = ", ".join(sorted(s.value for s in REACTIVATE_TO))
        raise Conflict(
            f"'{slug}' is retired and cannot move to {new.value}",
            hint=f"Retired is terminal; reactivate it explicitly (reactivate=True) to one of: {allowed}.",
        )
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(s.value for s in AppStatus if s in TRANSITIONS[old])
        raise Conflict(
            f"'{slug}' cannot move from {old.value} to {new.value}", hint=f"From {old.value} go to: {allowed}."
        )


def registered_status(record: AppRecord, old: AppRecord | None) -> tuple[AppStatus, list[str]]:
    """The status a (re-)registration leaves the app in, with a note when the one it names is not applied."""
    if old is None or record.status == old.status or old.status in PLANNED_STATUSES:
        return (record.status if old is None or "status" in record.model_fields_set else old.status), []
    if "status" not in record.model_fields_set:
        return old.status, []
    note = (
        f"status '{record.status.value}' was not applied: '{old.slug}' is {old.status.value}; "
        "past pending, only set_status changes an app's status"
    )
    return old.status, [note]


def review_status(old: AppRecord) -> AppStatus | None:
    """Where an app's own change to its registration sends it: ``pending`` past review, None while planned.

    Raises ``Forbidden`` for a suspended or retired app: the owner took it out of service, so it may not
    change its record (and so put itself back in the review queue) on its own.
    """
    if old.status in PLANNED_STATUSES:
        return None
    if old.status in (_S.suspended, _S.retired):
        raise Forbidden(
            f"'{old.slug}' is {old.status.value}, so it may not change its own registration",
            hint="Ask the owner to review the app and change its status first.",
            details={"slug": old.slug, "status": old.status.value, "rule": "self-registration-review"},
        )
    return _S.pending


def review_note(old: AppRecord) -> str:
    return (
        f"'{old.slug}' was {old.status.value}; its own change to its registration sends it back to pending, so its "
        "tools are not offered until the owner approves it again (registry_set_status to approved or active)"
    )

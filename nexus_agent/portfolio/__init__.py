"""Importing an existing satellite portfolio (``apps/<slug>/...``) into the registry.

    report = await import_portfolio(Path("legacy-portfolio"), registry, actor="owner", truth=truth)
    print(report.to_text())

Each ``apps/<folder>`` ends as one :data:`ImportOutcome`: ``imported`` (or
``updated`` / ``unchanged`` when it was registered before), ``merged`` into
another folder holding the same app (``merge_evidence`` says why), ``code_only``
(code without a registration: no app is created, nothing is backed up) or
``failed`` with each file and the reason.

How the files map onto :class:`~nexus_agent.wire.models.AppRecord`:

- name: a ``full_name`` first, then a display name ("Glazing Scheduler") over a
  slug-like one; category, description (``description``, ``summary``, ``purpose``) and
  owner (``owner``, ``contact_email``, ``support.email``) from the registration files
  first (``registration-metadata.json``, ``app-registration.json``, ``metadata.json``),
  then ``business-logic.json``, then the rest; a generic category such as
  ``sfg-aluminium-app`` is ignored; the highest version of a registration wins (a
  ``package.json`` version only when no registration has one).
- capabilities, workflows (triggers and outputs go into the description),
  business rules (rendered as text), integrations, tags: merged from every file.
- endpoints: webhook, message-handler, health and MCP URLs in any of the shapes
  (``endpoints``, ``webhook_configuration.*``, ``message_handler_configuration.*``,
  ``deployment.*``, ``config/webhooks.json``'s ``*_endpoint``), the deployment URL as
  ``app_url``, the signature header; never a command (``mcp_command`` is the owner's).
- subscribes_to / publishes: incoming and outgoing webhooks, ``events.subscribes`` /
  ``events.publishes``, the events a webhook says it supports.
- message_types: only ``family.name`` strings; parameter names and prose mixed into the
  list, ``*message*/*handler*.md`` pages (not under an "Outgoing" heading) and payload
  examples become ``message_specs`` (:mod:`._messages`).
- status: ``approved`` when a file says production (or live / deployed) *and* a
  health or MCP URL is known; otherwise ``placeholder`` (``beta`` is not production).
  The import never claims ``active``: only a health check can say an app is up.
- secrets: never copied. Build output and lock files are skipped; every other file of the
  tree is scanned (a root ``.env``, Markdown such as ``Password: ...``), each secret a
  finding (file, line or JSON path, kind; the preview shows only its length). A webhook
  secret becomes ``endpoints.webhook_secret_env = SATELLITE_<SLUG>_WEBHOOK_SECRET``, an
  endpoint token ``endpoints.token_env = SATELLITE_<SLUG>_TOKEN``.

Duplicates: folders are one app only on evidence (:mod:`._merge`): the same normalised
folder name, registration name or slug, endpoint URL, or hosts; never a package name.
The folder with the stronger registration wins and the other is reported ``merged``.

Writes: the registry is written all at once or not at all, then (with ``truth``) pushed
to the truth source; a failed commit is reported, not raised. :func:`map_registration_issue`
applies the same mapping to a Markdown ``[Registration]`` issue body.
"""

from nexus_agent.portfolio.importer import import_portfolio
from nexus_agent.portfolio.issue import IssueRegistration, map_registration_issue
from nexus_agent.portfolio.report import AppImportResult, FileFailure, ImportOutcome, ImportReport

__all__ = [
    "AppImportResult",
    "FileFailure",
    "ImportOutcome",
    "ImportReport",
    "IssueRegistration",
    "import_portfolio",
    "map_registration_issue",
]

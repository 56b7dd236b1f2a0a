"""Importing an existing satellite portfolio (``apps/<slug>/...``) into the registry.

    report = await import_portfolio(Path("legacy-portfolio"), registry, actor="owner")
    print(report.to_text())

Each ``apps/<folder>`` ends as one :data:`ImportOutcome`: ``imported`` (or
``updated`` / ``unchanged`` when it was registered before), ``merged`` into
another folder holding the same app, ``backup_only`` (code without a
registration: no app is created) or ``failed`` with each file and the reason.

How the files map onto :class:`~nexus_agent.wire.models.AppRecord`:

- name: a ``full_name`` first, then a display name ("Glazing Scheduler") over a
  slug-like one; category, description and owner (``contact_email``) from the
  registration files first (``registration-metadata.json``, ``app-registration.json``,
  ``metadata.json``), then ``business-logic.json``, then the rest; a generic category
  such as ``sfg-aluminium-app`` is ignored; the highest version wins.
- capabilities, workflows (triggers and outputs go into the description),
  business rules (rendered as text), integrations, tags: merged from every file.
- endpoints: webhook, message-handler, health and MCP URLs, in any of the shapes.
- subscribes_to: incoming webhook events and the events a webhook says it supports;
  message_types: the handler's supported types, including Markdown headings in
  ``*message*/*handler*.md`` pages (not those under an "Outgoing" heading).
- status: ``approved`` when a file says production (or live / deployed) *and* a
  health or MCP URL is known; otherwise ``placeholder``. The import never claims
  ``active``: only a health check can say an app is up.
- secrets: never copied. A webhook secret becomes ``endpoints.webhook_secret_env =
  <SLUG>_WEBHOOK_SECRET``, an endpoint token ``endpoints.token_env = <SLUG>_TOKEN``;
  each is a finding in the report (file, JSON path, kind; no value).

Duplicates: two folders whose normalised folder names, slugs or app names are
equal, that share an endpoint URL, or whose folder names are nearly the same
(difflib ratio >= 0.9) are one app; the folder with the stronger registration
wins and the other is reported ``merged`` into it.
"""

from nexus_agent.portfolio.importer import import_portfolio
from nexus_agent.portfolio.report import AppImportResult, FileFailure, ImportOutcome, ImportReport

__all__ = ["AppImportResult", "FileFailure", "ImportOutcome", "ImportReport", "import_portfolio"]

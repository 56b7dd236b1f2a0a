"""Events: a durable outbox of signed webhooks to satellites, and GitHub webhooks into Nexus.

    outbox = Outbox(database)                      # rows in the Nexus database (EVENTS_MIGRATIONS)
    await outbox.publish("instruction.created", {"id": 7}, await registry.all(), key="instruction-7")
    async with dispatching(outbox, WebhookSecrets(env, records)) as dispatcher:   # in the server's lifespan
        ...

    route = github_webhook_route(lambda: github_secret, on_github_event, database)

An event is committed before ``enqueue`` returns, sent with ``X-Nexus-Signature``, a fixed
delivery id and a fresh timestamp, retried with exponential backoff and jitter, and dead
after ``RetryPolicy.max_attempts``; ``list``/``get``/``replay``/``stats`` serve the CLI.
"""

from nexus_agent.events.app_webhooks import (
    APP_WEBHOOK_PREFIX,
    AppEvent,
    AppEventStore,
    AppWebhookTarget,
    app_webhook_route,
    parse_app_event,
)
from nexus_agent.events.dispatcher import Dispatcher, SecretResolver, dispatch_timing
from nexus_agent.events.github_webhooks import (
    GITHUB_EVENTS,
    GITHUB_WEBHOOK_PATH,
    GitHubComment,
    GitHubCommit,
    GitHubDeliveries,
    GitHubEvent,
    GitHubIssue,
    GitHubPush,
    github_webhook_route,
    parse_github_event,
    verify_github_signature,
)
from nexus_agent.events.lifespan import dispatching
from nexus_agent.events.models import (
    DispatchReport,
    EnqueueItem,
    OutboxEntry,
    OutboxPage,
    OutboxStats,
    OutboxStatus,
    ReplayResult,
    RetryPolicy,
)
from nexus_agent.events.outbox import Outbox, subscribes
from nexus_agent.events.schema import EVENTS_MIGRATIONS
from nexus_agent.events.store import DeliveryOutcome, OutboxStore
from nexus_agent.events.webhook_secrets import MIN_SECRET_LENGTH, WebhookSecrets, default_secret_env

__all__ = [
    "APP_WEBHOOK_PREFIX",
    "EVENTS_MIGRATIONS",
    "GITHUB_EVENTS",
    "GITHUB_WEBHOOK_PATH",
    "MIN_SECRET_LENGTH",
    "AppEvent",
    "AppEventStore",
    "AppWebhookTarget",
    "DeliveryOutcome",
    "DispatchReport",
    "Dispatcher",
    "EnqueueItem",
    "GitHubComment",
    "GitHubCommit",
    "GitHubDeliveries",
    "GitHubEvent",
    "GitHubIssue",
    "GitHubPush",
    "Outbox",
    "OutboxEntry",
    "OutboxPage",
    "OutboxStats",
    "OutboxStatus",
    "OutboxStore",
    "ReplayResult",
    "RetryPolicy",
    "SecretResolver",
    "WebhookSecrets",
    "app_webhook_route",
    "default_secret_env",
    "dispatch_timing",
    "dispatching",
    "github_webhook_route",
    "parse_app_event",
    "parse_github_event",
    "subscribes",
    "verify_github_signature",
]

"""Flows between Nexus and its satellites through the truth source.

::

    registration.py     satellites ask to join; Nexus validates, guards secrets, spots duplicates;
                        the owner (or the auto-approve policy) decides
    instructions.py     Nexus instructs satellites (files + signed webhooks) and follows their reports
                        pending -> delivered -> acknowledged -> completed | failed | expired
    models.py           the wire models both sides share (defined in nexus_agent.wire.flows)
    github_events.py    which flow a GitHub webhook of the truth repository should wake up

Apply :data:`FLOW_MIGRATIONS` to the Nexus database before using :class:`InstructionService`.
"""

from nexus_agent.flows._review import RegistrationFinding, find_duplicates
from nexus_agent.flows._store import FLOW_MIGRATIONS, TRANSITIONS
from nexus_agent.flows.github_events import flows_for_github_event
from nexus_agent.flows.instructions import InstructionService, Notify
from nexus_agent.flows.models import (
    INSTRUCTION_EVENT,
    Instruction,
    InstructionPage,
    InstructionReport,
    InstructionResult,
    InstructionStatus,
    InstructionTransition,
    RegistrationSubmission,
    ReportOutcome,
)
from nexus_agent.flows.registration import (
    RegistrationOutcome,
    RegistrationPolicy,
    approve_registration,
    process_pending_registrations,
    process_registration,
    request_changes,
)

__all__ = [
    "FLOW_MIGRATIONS",
    "INSTRUCTION_EVENT",
    "TRANSITIONS",
    "Instruction",
    "InstructionPage",
    "InstructionReport",
    "InstructionResult",
    "InstructionService",
    "InstructionStatus",
    "InstructionTransition",
    "Notify",
    "RegistrationFinding",
    "RegistrationOutcome",
    "RegistrationPolicy",
    "RegistrationSubmission",
    "ReportOutcome",
    "approve_registration",
    "find_duplicates",
    "flows_for_github_event",
    "process_pending_registrations",
    "process_registration",
    "request_changes",
]

"""What a truth source hands back lives in :mod:`nexus_agent.wire.truth` (the kit reads it too).

This module re-exports the models for Nexus's own modules, so ``nexus_agent.truth.models`` keeps working.
"""

from nexus_agent.wire.truth import Commit, Issue, IssueComment, IssueState, TruthFile

__all__ = ["Commit", "Issue", "IssueComment", "IssueState", "TruthFile"]

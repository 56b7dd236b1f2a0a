"""Nexus's planner: instruction -> validated plan -> execution -> memory.

The pieces, each a module of one concept:

- :mod:`~nexus_agent.planner.catalogue`: every reachable tool (``ToolProvider``)
- :mod:`~nexus_agent.planner.selection`: BM25F ranking, top-k tools for the model
- :mod:`~nexus_agent.planner.llm`: ``PlannerModel`` and the Anthropic backend
- :mod:`~nexus_agent.planner.offline`: the deterministic default backend
- :mod:`~nexus_agent.planner.validation`: calls checked before anything runs
- :mod:`~nexus_agent.planner.approval`: policy and approvers (fail closed)
- :mod:`~nexus_agent.planner.loop`: the ``Planner`` itself (start, inspect, approve, reject, resume)
- :mod:`~nexus_agent.planner.driver`: carrying a plan from model turn to model turn
- :mod:`~nexus_agent.planner.state`: the run state, kept in the one plan store (memory's ``plans`` table)
- :mod:`~nexus_agent.planner.models`: the one plan-status vocabulary, budgets, planned calls, results
- :mod:`~nexus_agent.planner.choice`: the offline planner's decision per clause (scoring in
  :mod:`~nexus_agent.planner.candidates`, argument filling in :mod:`~nexus_agent.planner.filling`)
"""

from nexus_agent.planner.approval import ApprovalPolicy, Approver, CallbackApprover, ElicitationApprover, StaticApprover
from nexus_agent.planner.build import build_planner, select_model
from nexus_agent.planner.catalogue import (
    Catalogue,
    CompositeProvider,
    NexusToolProvider,
    ToolDescriptor,
    ToolOutcome,
    ToolProvider,
)
from nexus_agent.planner.console import StderrProgress, TerminalApprover, exit_code, format_plan, run_ask
from nexus_agent.planner.llm import (
    DEFAULT_MODEL,
    AnthropicModel,
    ModelTurn,
    OfferedTool,
    PlannerModel,
    ToolCallRequest,
    Usage,
)
from nexus_agent.planner.loop import Planner
from nexus_agent.planner.models import (
    PLAN_STATUSES,
    Budget,
    BudgetUsage,
    PlannedCall,
    PlanResult,
    PlanRunner,
    PlanStatus,
    ProgressEvent,
)
from nexus_agent.planner.offline import OfflineModel
from nexus_agent.planner.selection import DEFAULT_TOP_K, RankedTool, ToolIndex, ToolSelector, recall_at_k
from nexus_agent.planner.state import PLANNER_MIGRATIONS, PlanStore, RunState, SqlitePlanStateStore

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_TOP_K",
    "PLANNER_MIGRATIONS",
    "PLAN_STATUSES",
    "AnthropicModel",
    "ApprovalPolicy",
    "Approver",
    "Budget",
    "BudgetUsage",
    "CallbackApprover",
    "Catalogue",
    "CompositeProvider",
    "ElicitationApprover",
    "ModelTurn",
    "NexusToolProvider",
    "OfferedTool",
    "OfflineModel",
    "PlanResult",
    "PlanRunner",
    "PlanStatus",
    "PlanStore",
    "PlannedCall",
    "Planner",
    "PlannerModel",
    "ProgressEvent",
    "RankedTool",
    "RunState",
    "SqlitePlanStateStore",
    "StaticApprover",
    "StderrProgress",
    "TerminalApprover",
    "ToolCallRequest",
    "ToolDescriptor",
    "ToolIndex",
    "ToolOutcome",
    "ToolProvider",
    "ToolSelector",
    "Usage",
    "build_planner",
    "exit_code",
    "format_plan",
    "recall_at_k",
    "run_ask",
    "select_model",
]

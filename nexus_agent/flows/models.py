"""The flows' wire models live in :mod:`nexus_agent.wire.flows` (the kit reads and writes them too).

This module re-exports them for Nexus's own modules, so ``nexus_agent.flows.models`` keeps working.
"""

from nexus_agent.wire.flows import *  # noqa: F403
from nexus_agent.wire.flows import __all__ as __all__

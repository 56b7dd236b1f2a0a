"""Helpers shared by the planner tests, under a name no other test folder uses.

Test modules import from here rather than from ``conftest``: with pytest's default
import mode every folder's conftest is the module ``conftest``, so ``from conftest import``
picks whichever folder was collected first.
"""

from __future__ import annotations

from collections.abc import Callable

from nexus_agent.planner import Planner

MakePlanner = Callable[..., Planner]

"""``nexus demo``: Nexus doing real work on a fresh machine, with nothing to configure.

Five satellites built with the satellite kit (quote-engine, enquiries, credit-check,
installation-scheduler, invoicing) serve MCP over HTTP on 127.0.0.1 with sample
data, beside one legacy app (stock-ledger: a message handler taking signed JSON
messages, see :mod:`nexus_agent.demo.legacy`); Nexus registers them, plans the
owner's instruction with the offline planner,
asks for approval of anything with side effects, runs it and keeps it all in memory
and the local git truth source.

    from nexus_agent.demo import DemoOptions, run_demo
    raise SystemExit(run_demo(settings, DemoOptions(yes=True)))
"""

from nexus_agent.demo._data import DemoBook, sample_book
from nexus_agent.demo.runner import (
    DEMO_INSTRUCTION,
    DemoOptions,
    RunningSatellite,
    demo_settings,
    run_demo,
    running_satellites,
)
from nexus_agent.demo.satellites import build_satellites

__all__ = [
    "DEMO_INSTRUCTION",
    "DemoBook",
    "DemoOptions",
    "RunningSatellite",
    "build_satellites",
    "demo_settings",
    "run_demo",
    "running_satellites",
    "sample_book",
]

import sys

from nexus_agent.cli import main

sys.exit(main())

"""Test helpers that ship with Nexus, for our tests and for satellite authors.

- :func:`serve_in_thread`: any ASGI app as a real HTTP server on 127.0.0.1 for a test.
- :func:`serve_nexus_in_thread`: Nexus itself over HTTP (runtime opened first, as ``nexus serve --http``).
- :class:`FakeLegacyApp`: a legacy (message-handler) app that checks signatures and posts signed events.
"""

from nexus_agent.testing.fake_legacy_app import FakeLegacyApp
from nexus_agent.testing.servers import free_port, serve_in_thread, serve_nexus_in_thread

__all__ = ["FakeLegacyApp", "free_port", "serve_in_thread", "serve_nexus_in_thread"]

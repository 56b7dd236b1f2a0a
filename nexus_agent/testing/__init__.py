"""Test helpers that ship with Nexus, for our tests and for satellite authors."""

from nexus_agent.testing.servers import free_port, serve_in_thread

__all__ = ["free_port", "serve_in_thread"]

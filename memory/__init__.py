"""Nexus's persistent memory: SQLite through sqlite-utils (WAL, named migrations, FTS5)."""

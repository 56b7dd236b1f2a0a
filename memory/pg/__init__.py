"""Nexus's memory on PostgreSQL (``NEXUS_DATABASE_URL``): a pooled database, migrations, the store."""

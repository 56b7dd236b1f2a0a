"""Operations: metrics, backups with verified restore, the recovery drill and the status page.

Modules (import them directly; this package imports nothing heavy, so the CLI stays fast):

- ``schema``      the call log and backup record tables (named migrations)
- ``calllog``     a buffered writer of tool-call records, pruned by age
- ``observer``    what the server, the satellite pool and the planner report to
- ``metrics``     ``GET /metrics``: Prometheus families, counters in memory, gauges from the database
- ``figures``     the seed's four figures (registration rate, completion rate, error rate, response time)
- ``backup``      ``nexus backup create | verify | restore`` (``archive`` and ``secrets_box`` help it)
- ``scheduler``   the daily backup ``nexus serve`` takes
- ``recover``     ``nexus recover --from BACKUP``: the recovery plan, step by step
- ``status_page`` ``GET /status`` (Jinja2 template, inline SVG charts), ``web_auth`` its login
"""

__all__: list[str] = []

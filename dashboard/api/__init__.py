"""The REST API under /api/v1/ (Django REST framework) and /metrics: docs/api.md.

auth: bearer tokens, roles and throttling; serializers: what goes out (and the documented shape
of what comes in); one views module per resource; urls. Writes go through the same services as
the dashboard (checks.portal_file, checks.alerts.actions, checks.engine) and into the audit log.
"""

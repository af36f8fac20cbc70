"""The verification engine: claims and leases, one run over a portal, recording, retention, tasks.

Scheduling is per bot (`Bot.next_check_at`); the unit of work is a portal, because one
portal's bots share one rate limit and can share one `batch` call. Imports checks.models,
checks.bitrix24 and checks.alerts (a recorded run is handed to alerting); nothing imports
it but the tasks, the commands and the dashboard.
"""

"""The domain of BotWatch: everything a worker needs.

Rooms: `models` (the data), `bitrix24` (the REST client alone), `engine` (claims, runs,
recording, retention, tasks), `alerts` (incident rules, incidents, notifications, delivery),
plus small shared pieces (`status`, `crypto`, `db`, `portal_file`, `forms`, `admin`).
Imports go one way: dashboard -> checks -> checks.bitrix24; nothing here imports the
dashboard or the simulator.
"""

"""Alerting: the pure incident rules, incidents, notifications and their delivery, guidance, tasks.

Notification channels live here beside email. Imports checks.models and checks.status;
never the engine or the Bitrix24 client.
"""

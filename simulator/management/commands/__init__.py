"""`manage.py bitrix24_simulator`."""

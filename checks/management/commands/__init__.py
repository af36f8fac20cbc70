"""`manage.py` commands: import_portals, export_portals, verify, rotate_secrets, create_api_token; each a thin front."""

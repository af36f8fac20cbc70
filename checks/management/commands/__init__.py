"""`manage.py` commands: import_portals, export_portals, verify, rotate_secrets; each a thin front for a service."""

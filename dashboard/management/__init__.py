"""Django management commands of the dashboard (accounts)."""

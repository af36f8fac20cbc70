"""`manage.py` commands about accounts: disable_2fa."""

"""Print a .env for local use with freshly generated secrets (`make run` writes it once)."""

import secrets

print(f"""# Written by `make run` for local use. Production sets these in its environment.
DEBUG=1
SECRET_KEY={secrets.token_urlsafe(50)}
BOTWATCH_SECRET_KEYS={secrets.token_urlsafe(32)}
BOTWATCH_ALLOW_HTTP=1
# The bundled simulator listens on 127.0.0.1; production keeps private addresses refused.
BOTWATCH_ALLOW_PRIVATE_PORTALS=1
BOTWATCH_ALERT_EMAILS=oncall@example.com
""")

"""Write a .env for local use with freshly generated secrets (`make run` writes it once).

`make_env.py PATH` creates PATH with mode 0600 and refuses to replace an existing file; without
PATH the text goes to standard output.
"""

import os
import secrets
import sys

TEXT = f"""# Written by `make run` for local use. Production sets these in its environment.
# DEBUG=1 turns on Django's error pages, which show the settings and code to whoever sees them:
# for working on BotWatch itself, never on a dashboard that colleagues reach.
DEBUG=0
SECRET_KEY={secrets.token_urlsafe(50)}
BOTWATCH_SECRET_KEYS={secrets.token_urlsafe(32)}
BOTWATCH_ALLOW_HTTP=1
# The bundled simulator listens on 127.0.0.1; production keeps private addresses refused.
BOTWATCH_ALLOW_PRIVATE_PORTALS=1
BOTWATCH_ALERT_EMAILS=oncall@example.com
"""


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stdout.write(TEXT)
        return 0
    try:
        # O_EXCL: never over an existing .env (its keys decrypt the stored credentials).
        fd = os.open(argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"{argv[1]} exists already: not replaced", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w") as env_file:
        env_file.write(TEXT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python
"""Django's command-line utility for BotWatch."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # Configuration errors name the variable (dashboard/env.py); no traceback needed.
        sys.stderr.write(f"BotWatch configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()

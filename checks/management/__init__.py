"""Django management commands of BotWatch (portal files, verify, secrets)."""

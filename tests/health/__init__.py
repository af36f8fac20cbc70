"""Tests of the verdicts: a bot's problems and the portal's status (checks.health)."""

"""Template tags and filters of the dashboard (status badges, durations, masked secrets)."""

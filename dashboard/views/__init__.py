"""Dashboard views, one module per page family (healthchecks style: functions, ctx, render)."""

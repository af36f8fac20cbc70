"""A bot's checks over time: how they are stored, read back, counted and let go.

- checklog: a check as a 36-byte entry, the unit every store is made of;
- hours: which checks are also whole rows, the entries the recording statement appends to a
  bot's open hour, and closing the open hours of bots no longer checked;
- days: each hour of a bot's day packed into its DailyStat row;
- read: one bot's history for its page and the API (table, charts, uptime);
- lists: what list pages read for many bots at once (bars, counters a day ago, recent checks);
- tally: the per-portal totals behind /metrics;
- answers: a bot's answer probes, the last ones and their times by hour;
- partitions and retention: the hourly job that folds days, drops raw partitions and keeps
  history for BOTWATCH_HISTORY_DAYS.

The engine writes through the recording statement (checks.engine.pg); pages, the API and the
engine read through here. Nothing here imports the engine.
"""

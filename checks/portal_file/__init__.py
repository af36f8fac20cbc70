"""The portal file: the one description of a portal and its bots (docs/portal-file.md).

- `schema`: the rules of a portal entry, each problem with its place; the importer, the API,
  the dashboard's forms and the Django admin all check through it.
- `hostmove`: which stored secrets an address change would take to another host.
- `expectations`: a bot's `expect` and `backlog_minutes`.
- `bounded`: reading YAML or JSON within bounds.
- `load`: parse, validate and import a file (one transaction, idempotent upsert).
- `export`: the file written out, secrets left out unless asked for.
"""

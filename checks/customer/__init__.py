"""What the customer sees: the status page shared by a link, badges, and the monthly report.

- links: the status page's unguessable link per portal (create, rotate, revoke, find);
- page: what the status page shows, read from the packed history in a fixed number of queries;
- badges: shields-style SVG badges of a portal and of each bot;
- report: one month of a portal (uptime, incidents, the portal's own outages apart), as HTML or PDF;
- monthly: the report emailed to the portal's customer contacts once per month, and its task.

Reads history (checks.history) and incidents; writes notifications through checks.alerts.queue.
Nothing here says more than plain words: no error text, no secrets, no other portal.
"""

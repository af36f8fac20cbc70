"""The Bitrix24 REST client alone: transport, outcome classification, batch, OAuth, pacing, types.

Inside, imports flow one way: types <- outcome, deadline, netpolicy <- connection <- transport
<- oauth, pacing, batch, preflight, redirects <- client.
It reads and writes the portal and bot rows it is given (checks.models) and uses
checks.status and checks.db; it never imports the engine, alerting or the dashboard.
"""

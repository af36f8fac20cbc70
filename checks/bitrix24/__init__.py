"""The Bitrix24 REST client alone: transport, outcome classification, batch, OAuth, token broker, pacing, types.

It sends through the one outbound client (checks.net). Inside, imports flow one way: types <-
outcome <- transport <- oauth, pacing, batch, preflight, redirects <- client; outcome <- broker
<- client (an OAuth portal's token from the app's own backend); outcome <- sidecalls, probe <-
batch <- client. It returns what Bitrix24 said and judges nothing: the verdicts (problems,
`degraded`) live in checks.health, which it never imports.
It reads and writes the portal and bot rows it is given (checks.models) and uses
checks.status and checks.db; it never imports the engine, alerting or the dashboard.
"""

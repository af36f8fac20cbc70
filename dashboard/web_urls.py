"""The dashboard pages' URLs (namespace `dashboard`)."""

from django.urls import path

from dashboard.views import account, alerts, bot_health, bots, channels, customer, manage, overview, portals, twofactor

app_name = "dashboard"

urlpatterns = [
    path("", overview.overview, name="overview"),
    # Alerts
    path("alerts/", alerts.alerts, name="alerts"),
    path("alerts/bulk/", alerts.alerts_bulk, name="alerts-bulk"),
    path("incidents/<int:pk>/ack/", alerts.incident_ack, name="incident-ack"),
    path("channels/test/", channels.channel_test, name="channel-test"),
    # Notifications: named channels
    path("notifications/", channels.notifications, name="notifications"),
    path("notifications/<int:pk>/", channels.channel_edit, name="channel-edit"),
    path("notifications/<int:pk>/delete/", channels.channel_delete, name="channel-delete"),
    # Portals
    path("portals/", portals.portal_list, name="portal-list"),
    path("portals/new/", manage.portal_create, name="portal-create"),
    path("portals/<int:pk>/", portals.portal_detail, name="portal-detail"),
    path("portals/<int:pk>/edit/", manage.portal_edit, name="portal-edit"),
    path("portals/<int:pk>/delete/", manage.portal_delete, name="portal-delete"),
    path("portals/<int:pk>/check/", portals.portal_check_now, name="portal-check-now"),
    path("portals/<int:pk>/check/status/", portals.portal_check_status, name="portal-check-status"),
    path("portals/<int:pk>/pause/", portals.portal_pause, name="portal-pause"),
    path("portals/<int:pk>/accept-redirect/", portals.portal_accept_redirect, name="portal-accept-redirect"),
    path("portals/<int:pk>/mute/", portals.portal_mute, name="portal-mute"),
    path("portals/<int:pk>/subscribe/", account.portal_subscribe, name="portal-subscribe"),
    path("portals/<int:pk>/status-link/", customer.status_link, name="status-link"),
    path("portals/<int:pk>/report/<str:month>/", customer.report_page, name="report"),
    path("portals/<int:pk>/report/<str:month>.pdf", customer.report_pdf, name="report-pdf"),
    path("portals/<int:pk>/maintenance/", portals.maintenance_create, name="maintenance-create"),
    path("maintenance/<int:pk>/delete/", portals.maintenance_delete, name="maintenance-delete"),
    # Bots
    path("bots/<int:pk>/", bots.bot_detail, name="bot-detail"),
    path("bots/<int:pk>/history.csv", bots.bot_history_csv, name="bot-history-csv"),
    path("bots/<int:pk>/mute/", bots.bot_mute, name="bot-mute"),
    path("bots/<int:pk>/expect-silence/", bots.bot_expect_silence, name="bot-expect-silence"),
    path("bots/<int:pk>/accept-id/", bot_health.bot_accept_id, name="bot-accept-id"),
    path("bots/<int:pk>/expect/", bot_health.bot_expect, name="bot-expect"),
    path("bots/<int:pk>/delete/", manage.bot_delete, name="bot-delete"),
    # The user's own account: email address and alert subscriptions
    path("account/", account.account, name="account"),
    path("account/email/", account.account_email, name="account-email"),
    path("account/every-portal/", account.subscribe_every_portal, name="subscribe-every-portal"),
    path("account/two-factor/", twofactor.two_factor, name="account-two-factor"),
    path("account/tokens/", account.token_create, name="token-create"),
    path("account/tokens/<int:pk>/revoke/", account.token_revoke, name="token-revoke"),
    # Administration
    path("portal-file/", manage.portal_file, name="portal-file"),
    path("portal-file/download/", manage.portal_file_download, name="portal-file-download"),
    path("audit/", manage.audit_log, name="audit-log"),
    path("users/", manage.user_list, name="user-list"),
    path("users/<int:pk>/role/", manage.user_role, name="user-role"),
    path("users/<int:pk>/unlock/", manage.user_unlock, name="user-unlock"),
    path("users/<int:pk>/two-factor/remove/", twofactor.user_remove_two_factor, name="user-remove-two-factor"),
]

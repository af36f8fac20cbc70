"""The site's URLs: login, the API, metrics, health, the admin and the dashboard pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import health, metrics
from dashboard.views import auth, customer, twofactor

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("login/verify/", twofactor.login_verify, name="login-verify"),
    path("logout/", auth.logout, name="logout"),
    path("password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/", admin.site.urls),
    # POST language=ru: Django's set_language keeps the choice in a cookie (no /ru/ URL prefix).
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health.healthz, name="healthz"),
    path("api/v1/", include("dashboard.api.urls")),
    # The customer's status page and badges: no login, the link's token is the key (docs/customer-status.md).
    path("status/<str:token>/", customer.status_page, name="status-page"),
    path("status/<str:token>/badge.svg", customer.portal_badge, name="status-badge"),
    path("status/<str:token>/bots/<str:code>/badge.svg", customer.bot_badge, name="status-bot-badge"),
    path("metrics", metrics.Metrics.as_view(), name="metrics"),
    path("", include("dashboard.web_urls")),
]

"""Deployment sanity checks of BotWatch's own, run by `manage.py check --deploy`."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_https_behind_a_proxy(app_configs, **kwargs) -> list[Warning]:
    # gunicorn speaks plain http: with an https SITE_URL a TLS proxy is in front, and unless Django
    # is told which header says "this came in over https", every request is redirected again.
    if settings.SECURE_SSL_REDIRECT and not settings.SECURE_PROXY_SSL_HEADER:
        return [
            Warning(
                "SECURE_SSL_REDIRECT is on (an https SITE_URL) but SECURE_PROXY_SSL_HEADER is not set.",
                hint="Behind a TLS proxy set SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https (the proxy must "
                "overwrite that header), or SECURE_SSL_REDIRECT=0 if the proxy redirects plain http itself.",
                id="botwatch.W001",
            )
        ]
    return []

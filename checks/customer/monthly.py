"""The monthly report by email: on the 1st, last month's report to each portal's customer contacts.

Exactly once per portal and month: the notification's key is `report:<portal id>:<YYYY-MM>`
(unique), so a second run of the task, a second beat or a redelivered message writes nothing;
delivery claims the row as it does every alert (checks.alerts.delivery). A portal opts out with
monthly_report false, or has no contacts to send to.
"""

import logging
from datetime import datetime
from functools import partial

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from checks.alerts.messages import RenderedEmail, header_text
from checks.alerts.queue import dispatch, queue_email
from checks.customer import report
from checks.models import IncidentEvent, Notification, Portal

log = logging.getLogger(__name__)


def report_key(portal: Portal, month: report.Month) -> str:
    return f"report:{portal.pk}:{month}"


def render_email(built: report.Report) -> RenderedEmail:
    portal = built.portal
    with translation.override(portal.language):
        title = portal.customer_name or portal.name
        subject = _("Monthly report for %(title)s, %(month)s") % {"title": title, "month": built.month}
        text = render_to_string("customer/report.txt", report.context(built))
    return RenderedEmail(subject=header_text(subject), text=text, html=report.render_html(built, standalone=True))


def queue_report(portal: Portal, month: report.Month) -> int | None:
    """The month's report email of the portal, written once; its notification id, or None."""
    key = report_key(portal, month)
    if Notification.objects.filter(key=key).exists():
        return None  # sent, or being sent: the unique key would refuse it anyway
    # In the portal's language, whatever the instance's (render_email overrides it).
    render = partial(render_email, report.build(portal, month))
    return queue_email(key, IncidentEvent.Kind.REPORT, render, [], portal, list(portal.customer_contacts))


def send_monthly_reports(now: datetime | None = None, *, inline: bool = False) -> list[int]:
    """Last month's report for every portal that wants one and has contacts; notification ids."""
    month = report.Month.before(now or timezone.now())
    portals = Portal.objects.defer(*Portal.ENCRYPTED_FIELDS).filter(monthly_report=True).exclude(customer_contacts=[])
    ids = []
    for portal in portals.order_by("name").iterator(chunk_size=100):
        pk = queue_report(portal, month)
        if pk:
            ids.append(pk)
    log.info("monthly reports for %s: %d queued", month, len(ids))
    dispatch(ids, inline=inline)
    return ids

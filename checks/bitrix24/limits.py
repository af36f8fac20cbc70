"""OPERATION_TIME_LIMIT and its block: a mixin of checks.bitrix24.client.Bitrix24Client.

After OPERATION_TIME_LIMIT the portal is left alone until operating_reset_at (or the documented
10 minutes), for every worker: the block is kept on the portal row.
"""

from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from checks.bitrix24.transport import Answer
from checks.bitrix24.types import BotResult
from checks.models import Portal
from checks.status import Status

OPERATING_BLOCK = timedelta(minutes=10)  # RU system-errors table: lifted after 10 minutes


class OperatingLimits:
    """Needs from the client: portal, persist, reset_at."""

    portal: Portal
    persist: bool
    reset_at: datetime | None

    def note_answer(self, answer: Answer) -> None:
        """Remember operating_reset_at from successes; block the portal on OPERATION_TIME_LIMIT."""
        if answer.error_code == "OPERATION_TIME_LIMIT":
            self.block()
        elif answer.is_success and isinstance(answer.payload, dict):
            self.note_time(answer.payload.get("time"))

    def note_time(self, time_obj) -> None:
        reset = time_obj.get("operating_reset_at") if isinstance(time_obj, dict) else None
        if isinstance(reset, (int, float)) and not isinstance(reset, bool):
            try:
                self.reset_at = datetime.fromtimestamp(reset, UTC)
            except (OverflowError, OSError, ValueError):
                return

    def block(self) -> None:
        """OPERATION_TIME_LIMIT: no call to this portal before operating_reset_at (or ~10 minutes)."""
        now = timezone.now()
        reset = self.reset_at
        # A reset time in the past or far off is not believed: the documented 10 minutes then.
        until = reset if reset and now < reset < now + 2 * OPERATING_BLOCK else now + OPERATING_BLOCK
        self.portal.blocked_until = until
        if self.persist:
            later = Q(blocked_until__isnull=True) | Q(blocked_until__lt=until)
            Portal.objects.filter(later, pk=self.portal.pk).update(blocked_until=until)

    def _blocked_result(self) -> BotResult | None:
        until = self.portal.blocked_until
        if until is None or until <= timezone.now():
            return None
        return BotResult(
            bot_pk=None,
            status=Status.RATE_LIMITED,
            error_code="OPERATION_TIME_LIMIT",
            error_description=f"not calling the portal before {until:%Y-%m-%d %H:%M:%S} UTC (OPERATION_TIME_LIMIT)",
        )

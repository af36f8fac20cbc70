"""The portal probe of one run, as the client makes it (SPEC §8; the parsing is checks.bitrix24.probe).

A mixin of checks.bitrix24.client.Bitrix24Client: the probe as single calls on a portal without
batch (before any bot, so that a failing portal's bots are not called at all), and the run's
last word on the portal: every bot failing alike on the portal's side is the portal's failure.
"""

from django.utils import timezone

from checks.bitrix24 import probe
from checks.bitrix24.outcome import error_fields
from checks.bitrix24.probe import PortalResult, ProbeCall
from checks.bitrix24.transport import Answer
from checks.bitrix24.types import BotResult
from checks.models import Portal
from checks.status import PORTAL_FAILURES


class PortalProbe:
    """Needs from the client: portal, portal_result, call(), classify(), redact()."""

    portal: Portal
    portal_result: PortalResult | None

    def call(self, method: str, params: dict) -> Answer | BotResult: ...
    def classify(self, answer: Answer) -> BotResult: ...
    def redact(self, text: str, *extra: str) -> str: ...

    def probe_calls(self) -> list[ProbeCall]:
        return probe.probe_calls(self.portal, timezone.now())

    def probe_singly(self, calls: list[ProbeCall]) -> PortalResult:
        """The probe one call after another; it stops at the first sign that the portal fails."""
        result = PortalResult()
        for call in calls:
            answer = self.call(call.method, {})
            if isinstance(answer, BotResult):
                return probe.from_failure(answer)
            if answer.failure is not None or (not answer.is_success and answer.error_code is None):
                return probe.from_failure(self.classify(answer))
            if answer.error_code is not None:
                failure = self.classify(answer)
                if failure.status in PORTAL_FAILURES and call.method != probe.APP_INFO:
                    return probe.from_failure(failure)
                probe.apply_answer(result, call, None, error_fields(answer.payload))
                continue
            payload = answer.payload if isinstance(answer.payload, dict) else {}
            probe.apply_answer(result, call, payload.get("result"), None)
            if result.failing:
                break
        return result

    def settle_portal(self, results: list[BotResult]) -> list[BotResult]:
        """The portal's outcome once the bots answered; bots failing alike on its side become its failure."""
        shared = probe.shared_failure(self.portal_result, results)
        if shared is not None:
            self.portal_result = shared
            for result in results:
                result.by_portal = True
        if self.portal_result is not None:
            probe.finish(self.portal_result)
            self.portal_result.error_description = self.redact(self.portal_result.error_description)
        return results

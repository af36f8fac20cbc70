"""The Bitrix24 client: the only code in BotWatch that calls imbot.v2.Bot.get.

`verify_bots(portal, bots)` returns one classified BotResult per bot and never raises for
anything Bitrix24 or the network does; with probe=True the client's run also probes the portal itself. On the way
it paces itself per portal, retries transient failures a bounded number of times, refreshes an
expired OAuth token once, re-POSTs once to a renamed portal, honours OPERATION_TIME_LIMIT
(blocking the portal until its reset), batches bots of one portal, makes the health calls
beside Bot.get (checks.bitrix24.sidecalls) and the portal probe (checks.bitrix24.probe).

It returns what Bitrix24 said, classified (checks.bitrix24.outcome): the bot's fields, its
events, its commands, the probe's answers. It judges nothing: the problems and `degraded` are
the verdict's (checks.health), which the engine asks after the client.
"""

import copy
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from checks.bitrix24 import batch, dialogs, preflight, probe, redirects
from checks.bitrix24.broker import BrokerCalls
from checks.bitrix24.oauth import REFRESHABLE, TOKEN_FIELDS, exchange_seconds, refresh_access_token
from checks.bitrix24.outcome import TransportFailure, classify_response, classify_transport, error_fields
from checks.bitrix24.pacing import wait_for_slot
from checks.bitrix24.probe import PortalResult, ProbeCall, from_failure, not_verified
from checks.bitrix24.sidecalls import (
    SideCall,
    apply_side_answer,
    catch_up_calls,
    refuse_offset,
    side_calls,
    target_id,
)
from checks.bitrix24.transport import MAX_BODY, Answer, exchange, mask_url
from checks.bitrix24.types import BOT_GET, BotResult
from checks.models import AuthType, Bot, Portal
from checks.net.client import thread_session
from checks.net.deadline import BudgetSpent, Deadline
from checks.status import PORTAL_FAILURES, ResponseFormat, Status

log = logging.getLogger("checks.bitrix24")

# Transient answers worth a bounded retry; OVERLOAD_LIMIT and PORTAL_DELETED are not transient.
NOT_RETRIED = frozenset({"OVERLOAD_LIMIT", "PORTAL_DELETED", "OPERATION_TIME_LIMIT"})
TIMED_OUT_EARLIER = " (not called: the portal timed out earlier in this run)"
OPERATING_BLOCK = timedelta(minutes=10)  # RU system-errors table: lifted after 10 minutes


def verify_bots(
    portal: Portal,
    bots: Sequence[Bot],
    *,
    persist: bool = True,
    fresh: bool = False,
    caller_saves_batch: bool = False,
    deadline: Deadline | None = None,
) -> list[BotResult]:
    """Call Bot.get for each bot of one portal; one classified BotResult per bot, in order.

    fresh=True: the caller loaded `portal` from the database just before, so the client
    does not read its tokens, block and batch support again. caller_saves_batch=True: a
    first batch that works only sets `portal.batch_supported`, which the caller writes with
    its own results (the engine's recording statement) instead of a statement of its own.
    deadline: no call starts that could end after it; the results are then for the first
    bots only (the others were not verified).
    """
    client = Bitrix24Client(portal, persist=persist, caller_saves_batch=caller_saves_batch, deadline=deadline)
    return client.verify_bots(bots, fresh=fresh)


class Bitrix24Client(BrokerCalls):
    """One verification run against one portal.

    Read from the top: verify_bots (the run), then one call (call, _send, post), then the
    health calls beside Bot.get, the portal probe, the OPERATION_TIME_LIMIT block, and what
    happens before and after. BrokerCalls adds the token broker's two calls (an OAuth portal
    whose token the app's own backend hands out).

    persist=False touches no database row at all (the dashboard's "test connection" on
    unsaved objects): no pacing reservation, no lock, no blocked_until, and no token refresh,
    since a rotated pair that cannot be stored would cut the portal off.

    A run that timed out once calls the portal no more: every later call of the run gets the
    same outcome, so a portal that does not answer costs one timeout per run, not one per bot.
    """

    def __init__(
        self,
        portal: Portal,
        *,
        persist: bool = True,
        caller_saves_batch: bool = False,
        retries: int | None = None,
        retry_delay: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline | None = None,
    ):
        self.portal = portal
        self.persist = persist and portal.pk is not None
        self.session = thread_session()
        self.retries = settings.BITRIX24_RETRIES if retries is None else retries
        self.retry_delay = settings.BITRIX24_RETRY_DELAY if retry_delay is None else retry_delay
        self.sleep = sleep
        self.base_url = portal.url.rstrip("/")
        self.redirect_url = ""
        self.reset_at: datetime | None = None  # operating_reset_at of the last success
        self.caller_saves_batch = caller_saves_batch  # see verify_bots
        self.deadline = deadline
        self.timed_out: BotResult | None = None  # the outcome of this run's first timeout
        self.portal_result: PortalResult | None = None  # what the portal probe said (verify_bots with probe=True)

    # -- public -------------------------------------------------------------------------

    def verify_bots(
        self, bots: Sequence[Bot], *, fresh: bool = False, probe: bool = False, known: PortalResult | None = None
    ) -> list[BotResult]:
        """probe: the portal probe rides along (portal_result); known: the portal's outcome earlier in
        this run (its bots are not called when it fails)."""
        bots = list(bots)
        if not bots:
            return []
        self._check_bots(bots)
        problem = self._misconfiguration()
        if problem is not None:
            self.portal_result = from_failure(problem) if probe else None
            return [self._finish(copy.deepcopy(problem), bot) for bot in bots]
        if self.persist and not fresh:
            self._reload_portal()
        if known is not None and known.failing:
            return [self._finish(not_verified(known), bot) for bot in bots]
        results: list[BotResult | None] = [None] * len(bots)
        calls = self.probe_calls() if probe else []
        try:
            if len(bots) + len(calls) > 1 and self.portal.batch_supported is not False:
                self.portal_result = batch.verify_batched(self, bots, results, calls)
            if calls and self.portal_result is None:
                self.portal_result = self.probe_singly(calls)
            if self.portal_result is not None and self.portal_result.failing:
                return self._settle([self._finish(not_verified(self.portal_result), bot) for bot in bots])
            for index, bot in enumerate(bots):
                if results[index] is None:
                    results[index] = self.verify_bot(bot)
                results[index] = self.follow_code(bot, results[index])
            self.catch_up(bots, results)
        except BudgetSpent:
            log.warning("portal=%s time budget spent: %d of %d bots not verified", self.portal.name,
                        results.count(None), len(bots))  # fmt: skip
        done = list(itertools.takewhile(lambda result: result is not None, results))
        return self._settle([self._finish(result, bot) for result, bot in zip(done, bots, strict=False)])

    def verify_bot(self, bot: Bot) -> BotResult:
        """Bot.get for one bot as a single call, then its due health calls, one by one."""
        result = self.get_bot(self.bot_params(bot))
        for call in self.side_calls(bot):
            if result.status != Status.OK or result.response_format != ResponseFormat.EXTENDED:
                break
            self.single_side_call(result, call)
        return result

    def get_bot(self, params: dict) -> BotResult:
        answer = self.call(BOT_GET, params)
        if isinstance(answer, BotResult):
            return answer
        return self.classify(answer)

    def call(self, method: str, params: dict) -> Answer | BotResult:
        """One REST call with blocking, retries, token refresh; a BotResult when no answer is usable."""
        blocked = self._blocked_result() or self._timed_out_earlier()
        if blocked is None and self.portal.uses_broker:
            blocked = self.broker_token_missing()
        if blocked is not None:
            return blocked
        answer = self._call_retrying(method, params)
        if self._is_oauth and self._needs_refresh(answer):
            answer = self._refresh_and_retry(method, params, answer)
            if isinstance(answer, BotResult):
                return answer
        if answer.failure == TransportFailure.TIMEOUT:
            self.timed_out = self.classify(answer)
        self.note_answer(answer)
        return answer

    def _timed_out_earlier(self) -> BotResult | None:
        if self.timed_out is None:
            return None
        result = copy.deepcopy(self.timed_out)
        result.error_description = result.error_description.removesuffix(TIMED_OUT_EARLIER) + TIMED_OUT_EARLIER
        result.duration_ms, result.attempts = 0, 0
        return result

    def _needs_refresh(self, answer: Answer) -> bool:
        if answer.error_code in REFRESHABLE:
            return True
        # A portal imported with only a refresh token: the first call has no access token to send.
        return answer.error_code == "NO_AUTH_FOUND" and not self.portal.oauth_access_token

    def classify(self, answer: Answer) -> BotResult:
        if answer.failure is not None:
            result = classify_transport(answer.failure, answer.detail, duration_ms=answer.duration_ms)
            return with_attempts(result, answer.attempts)
        if answer.http_status in redirects.REDIRECTS:
            return BotResult(
                bot_pk=None,
                status=Status.MISCONFIGURED,
                http_status=answer.http_status,
                duration_ms=answer.duration_ms,
                error_description=f"HTTP {answer.http_status}: {answer.refusal or 'redirect not followed'}",
                redirect_url=answer.redirect_to,
            )
        body = b"\x00not json" if answer.truncated else answer.body
        result = classify_response(answer.http_status, body, answer.content_type, duration_ms=answer.duration_ms)
        if answer.truncated:
            # Classified as an unreadable answer of its HTTP status; described for what it was.
            result.error_description = (
                f"HTTP {answer.http_status}: answer larger than {MAX_BODY // (1024 * 1024)} MB, not read to the end"
            )
        return with_attempts(result, answer.attempts)

    # -- one call -------------------------------------------------------------------------

    @property
    def _is_oauth(self) -> bool:
        return self.portal.auth_type == AuthType.OAUTH

    def _call_retrying(self, method: str, params: dict) -> Answer:
        answer = self._send(method, params)
        for attempt in range(1, self.retries + 1):
            if not self._is_transient(answer):
                break
            self.sleep(self._backoff(attempt))
            answer = self._send(method, params)
            answer.attempts = attempt + 1
        return answer

    def _is_transient(self, answer: Answer) -> bool:
        if answer.failure is not None:
            # Refused or reset connections come and go; DNS, TLS and timeouts rarely cure in a second.
            return answer.failure.name in ("REFUSED", "RESET", "OTHER")
        code = answer.error_code
        if code == "QUERY_LIMIT_EXCEEDED":
            return True
        return answer.http_status is not None and answer.http_status >= 500 and code not in NOT_RETRIED

    def _backoff(self, attempt: int) -> float:
        # Exponential with full jitter, so workers that failed together do not retry together.
        return random.uniform(0.5, 1.0) * self.retry_delay * 2 ** (attempt - 1)

    @sensitive_variables("url", "body", "params")
    def _send(self, method: str, params: dict) -> Answer:
        refuse_offset(method, params)  # every request passes here: batch, retries, re-POSTs
        url = f"{self.base_url}/rest/{method}" if self._is_oauth else self._webhook_url(method)
        body = dict(params, auth=self.portal.oauth_access_token) if self._is_oauth else params
        answer = self.post(method, url, body)
        if answer.http_status in redirects.REDIRECTS:
            answer = redirects.follow(self, method, url, body, answer)
        return answer

    def _webhook_url(self, method: str) -> str:
        return f"{self.base_url}/rest/{self.portal.webhook_user_id}/{self.portal.webhook_code}/{method}"

    @sensitive_variables("url", "body")
    def post(self, method: str, url: str, body: dict) -> Answer:
        """One request of this run: paced, within the run's deadline, logged with its URL masked."""
        seconds = self._call_seconds()
        spare = self._spare_seconds(seconds)
        if self.persist:
            wait_for_slot(self.portal.pk, self.sleep, max_wait=spare)
        answer = exchange(self.session, "POST", url, json=body, seconds=seconds)
        log.info(
            "portal=%s method=%s http=%s error=%s duration_ms=%d url=%s",
            self.portal.name,
            method,
            answer.http_status if answer.failure is None else answer.failure.name.lower(),
            answer.error_code or "-",
            answer.duration_ms,
            mask_url(url),
        )
        return answer

    def _call_seconds(self) -> float:
        """BITRIX24_TIMEOUT, or most of the run where that is shorter (a run shorter than one call)."""
        seconds = exchange_seconds()
        return seconds if self.deadline is None else min(seconds, 0.9 * self.deadline.seconds)

    def _spare_seconds(self, needed: float) -> float | None:
        """Seconds the run can wait and still give a call its full time; BudgetSpent when none are left.

        A call is never cut short by the run's end (it gets BITRIX24_TIMEOUT, or most of a run
        shorter than that): cut short, a slow but healthy portal would be recorded as
        unreachable. Not calling leaves the bot due.
        """
        if self.deadline is None:
            return None
        spare = self.deadline.remaining() - needed
        if spare < 0 or needed <= 0:
            raise BudgetSpent
        return spare

    def _refresh_and_retry(self, method: str, params: dict, refused: Answer) -> Answer | BotResult:
        if self.portal.uses_broker:  # never a refresh: the app's backend owns the chain (checks.bitrix24.broker)
            refresh = self.refetch_from_broker(self.portal.oauth_access_token)
        else:
            seconds = self._call_seconds()
            spare = self._spare_seconds(seconds)
            refresh = refresh_access_token(
                self.portal,
                self.session,
                self.portal.oauth_access_token,
                persist=self.persist,
                max_wait=spare,
                seconds=seconds,
            )
        if refresh.ok:
            return self._call_retrying(method, params)
        failed = BotResult(
            bot_pk=None,
            status=refresh.status,
            error_code=refresh.error_code or refused.error_code,
            error_description=f"{refused.error_code}; {refresh.description}",
            http_status=refresh.http_status or refused.http_status,
            duration_ms=refused.duration_ms,
        )
        if refresh.timed_out:
            self.timed_out = copy.deepcopy(failed)  # the token server would keep every later bot waiting too
        return failed

    # -- the health calls beside Bot.get ---------------------------------------------------

    def bot_params(self, bot: Bot, *, by_code: bool = False) -> dict:
        # By the id pinned when the bot was first seen: a lookup by code can match another
        # application's bot. botId wins on the portal when both are given; send only one.
        bot_id = None if by_code else target_id(bot)
        params: dict = {"botId": bot_id} if bot_id else {"code": bot.code}
        if self._token(bot):
            params["botToken"] = self._token(bot)
        return params

    def side_calls(self, bot: Bot) -> list[SideCall]:
        return side_calls(bot, self._token(bot), timezone.now())

    def _token(self, bot: Bot) -> str | None:
        return bot.bot_token if self.portal.auth_type != AuthType.OAUTH and bot.bot_token else None

    def catch_up(self, bots: list[Bot], results: list[BotResult]) -> None:
        """The health calls this run's answers made possible (catch_up_calls), in the same run."""
        now = timezone.now()
        pairs = [
            (result, call)
            for bot, result in zip(bots, results, strict=True)
            for call in catch_up_calls(bot, result, self._token(bot), now)
        ]
        if len(pairs) > 1 and self.portal.batch_supported is not False and batch.run_side_calls(self, pairs):
            return
        for result, call in pairs:
            self.single_side_call(result, call)

    def single_side_call(self, result: BotResult, call: SideCall) -> None:
        answer = self.call(call.method, call.params)
        if isinstance(answer, BotResult):
            result.side_notes.append(f"{call.method} not answered: {answer.error_code or answer.status}")
            return
        payload = answer.payload if isinstance(answer.payload, dict) else {}
        code = answer.error_code or (None if answer.is_success else f"HTTP {answer.http_status}")
        apply_side_answer(result, call, payload.get("result"), payload.get("time"), code)

    def follow_code(self, bot: Bot, result: BotResult) -> BotResult:
        """The pinned id is gone: does the bot's code answer as another id (re-registered)?"""
        if result.status != Status.NOT_FOUND or not bot.code or target_id(bot) is None:
            return result
        by_code = self.get_bot(self.bot_params(bot, by_code=True))
        if by_code.status == Status.OK and by_code.response_format == ResponseFormat.EXTENDED:
            return by_code  # the verdict then reports `reregistered` (id pinned -> id now)
        if by_code.response_format == ResponseFormat.BRIEF:
            seen = by_code.fields.get("id")
            result.error_description += (
                f"; code {bot.code} now answers as id {seen} in the brief format "
                "(another application's bot, or another token)"
            )
        return result

    # -- the answer probe (checks.bitrix24.dialogs) -------------------------------------------

    def dialog_call(self, method: str, params: dict, *, write: bool) -> dialogs.DialogAnswer:
        """im.message.add (write: sent once, never retried) or im.dialog.messages.get (retried), as the
        probe user when the portal has one, else with the portal's own credentials."""
        blocked = self._blocked_result() or self._timed_out_earlier()
        if blocked is not None:
            return dialogs.from_answer(blocked, transient=False)
        if self.portal.answer_webhook_code:
            url = (
                f"{self.base_url}/rest/{self.portal.answer_webhook_user_id}/{self.portal.answer_webhook_code}/{method}"
            )
            send = lambda: self.post(method, url, params)  # noqa: E731
        else:
            send = lambda: self._send(method, params)  # noqa: E731
        answer = send()
        retries = 0 if write else self.retries
        for attempt in range(1, retries + 1):
            if not self._is_transient(answer):
                break
            self.sleep(self._backoff(attempt))
            answer = send()
        self.note_answer(answer)
        return dialogs.from_answer(answer, transient=self._is_transient(answer))

    # -- the portal probe -------------------------------------------------------------------

    def probe_calls(self) -> list[ProbeCall]:
        return probe.probe_calls(self.portal, timezone.now())

    def probe_singly(self, calls: list[ProbeCall]) -> PortalResult:
        """The probe one call after another, before any bot (a portal without batch); it stops at
        the first sign that the portal fails, so that a failing portal's bots are not called at all."""
        result = PortalResult()
        for call in calls:
            answer = self.call(call.method, {})
            if isinstance(answer, BotResult):
                return from_failure(answer)
            if answer.failure is not None or (not answer.is_success and answer.error_code is None):
                return from_failure(self.classify(answer))
            if answer.error_code is not None:
                failure = self.classify(answer)
                if failure.status in PORTAL_FAILURES and call.method != probe.APP_INFO:
                    return from_failure(failure)
                probe.apply_answer(result, call, None, error_fields(answer.payload))
                continue
            payload = answer.payload if isinstance(answer.payload, dict) else {}
            probe.apply_answer(result, call, payload.get("result"), None)
            if result.failing:
                break
        return result

    # -- OPERATION_TIME_LIMIT ---------------------------------------------------------------

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
        """OPERATION_TIME_LIMIT: no call to this portal before operating_reset_at (or ~10 minutes).

        The block is kept on the portal row, so that every worker leaves the portal alone.
        """
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

    # -- before and after -----------------------------------------------------------------

    def _check_bots(self, bots: list[Bot]) -> None:
        for bot in bots:
            if not isinstance(bot, Bot):
                raise TypeError(f"verify_bots expects checks.models.Bot objects, got {type(bot).__name__}")
            if bot.portal_id is not None and self.portal.pk is not None and bot.portal_id != self.portal.pk:
                raise ValueError(f"bot {bot.label} belongs to another portal than {self.portal.name}")

    def _misconfiguration(self) -> BotResult | None:
        problem = preflight.portal_problem(self.portal)
        if problem is None:
            return None
        return BotResult(bot_pk=None, status=Status.MISCONFIGURED, error_description=problem)

    def _reload_portal(self) -> None:
        """The row may have moved on since the caller loaded it (tokens, block, batch support)."""
        try:
            self.portal.refresh_from_db(fields=[*TOKEN_FIELDS, "blocked_until", "batch_supported"])
        except Portal.DoesNotExist:
            # Deleted mid-run: finish on what was loaded; the engine drops rows of deleted bots.
            return

    def _finish(self, result: BotResult, bot: Bot) -> BotResult:
        result.bot_pk = bot.pk
        result.redirect_url = result.redirect_url or self.redirect_url
        result.error_description = self.redact(result.error_description, bot.bot_token)
        log.debug("portal=%s bot=%s status=%s error=%s", self.portal.name, bot.label, result.status, result.error_code)
        return result

    def _settle(self, results: list[BotResult]) -> list[BotResult]:
        """The probe's outcome, redacted like the bots' (the verdict is the engine's to ask for)."""
        if self.portal_result is not None:
            self.portal_result.error_description = self.redact(self.portal_result.error_description)
        return results

    def redact(self, text: str, *extra: str) -> str:
        """Belt and braces: no stored secret survives in a description, whatever the portal echoed."""
        secrets = [
            self.portal.webhook_code,
            self.portal.oauth_client_secret,
            self.portal.oauth_access_token,
            self.portal.oauth_refresh_token,
            self.portal.oauth_broker_secret,
            self.portal.answer_webhook_code,
            *extra,
        ]
        for secret in secrets:
            if secret and len(secret) >= 3:
                text = text.replace(secret, "***")
        return mask_url(text)


def with_attempts(result: BotResult, attempts: int) -> BotResult:
    """Note the retries on a failure, so "rate_limited" reads as "still limited after retrying"."""
    result.attempts = attempts
    if attempts > 1 and not result.ok:
        result.error_description = f"{result.error_description} (after {attempts} attempts)"
    return result

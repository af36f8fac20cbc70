"""Verifying many bots of one portal in `batch` requests (≤50 commands each).

One batch counts as one request against the portal's rate limit (reference §4), which is what
makes hundreds of bots per portal affordable. Whether imbot.v2 is allowed inside batch is not
documented; a portal that refuses (405 ERROR_BATCH_METHOD_NOT_ALLOWED) gets single calls from
then on, remembered in Portal.batch_supported.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from checks.bitrix24 import probe
from checks.bitrix24.outcome import classify_bot_payload, classify_error, error_fields
from checks.bitrix24.probe import PortalResult, ProbeCall
from checks.bitrix24.sidecalls import SideCall, apply_side_answer
from checks.bitrix24.transport import Answer
from checks.bitrix24.types import BOT_GET, BotResult
from checks.models import Bot, Portal


class BatchCaller(Protocol):
    """What batching needs of the client (checks.bitrix24.client.Bitrix24Client is one)."""

    portal: Portal
    persist: bool
    caller_saves_batch: bool

    def bot_params(self, bot: Bot) -> dict: ...
    def side_calls(self, bot: Bot) -> list[SideCall]: ...
    def call(self, method: str, params: dict) -> Answer | BotResult: ...
    def classify(self, answer: Answer) -> BotResult: ...
    def block(self) -> None: ...
    def note_time(self, time_obj) -> None: ...


BATCH_SIZE = 50  # commands per batch (batch.md)
NOT_ALLOWED = "ERROR_BATCH_METHOD_NOT_ALLOWED"


@dataclass
class Planned:
    index: int  # the bot's place in the run
    bot: Bot
    calls: list[SideCall]

    @property
    def size(self) -> int:
        return 1 + len(self.calls)


def verify_batched(
    client: BatchCaller, bots: list[Bot], results: list[BotResult | None], calls: list[ProbeCall] | None = None
) -> PortalResult | None:
    """Fill `results` batch by batch; entries left None are for single calls (fallback).

    The portal probe's `calls` ride in the first batch; returns what they said, or None when they
    did not ride (none given, or the portal refused the batch). A failing portal gets no second batch.
    """
    calls = calls or []
    plans = [Planned(i, bot, client.side_calls(bot)) for i, bot in enumerate(bots)]
    portal = None
    for number, pack in enumerate(pack_plans(plans, reserve=len(calls))):
        probing = calls if number == 0 else []
        if sum(p.size for p in pack) + len(probing) == 1:
            return portal  # a lone Bot.get: a single call is cheaper to read and to log
        outcome = verify_pack(client, pack, probing)
        if outcome is None:
            mark_unsupported(client)
            return portal
        pack_results, probed = outcome
        for plan, result in zip(pack, pack_results, strict=True):
            results[plan.index] = result
        portal = probed or portal
        if portal is not None and portal.failing:
            return portal
    return portal


def pack_plans(plans: list[Planned], limit: int = BATCH_SIZE, reserve: int = 0) -> list[list[Planned]]:
    """Greedy, in order: a bot's Bot.get and its health calls always share one batch; the first batch
    keeps `reserve` commands free for the portal probe."""
    packs: list[list[Planned]] = []
    size = limit
    for plan in plans:
        if size + plan.size > limit:
            size = 0 if packs else reserve
            packs.append([])
        packs[-1].append(plan)
        size += plan.size
    return packs


def pack_commands(client: BatchCaller, pack: list[Planned], calls: list[ProbeCall] | None = None) -> dict[str, str]:
    # Query encoding inside cmd (batch.md); the portal reads each as "method?params".
    commands = {call.key: call.method for call in calls or []}
    for i, plan in enumerate(pack):
        commands[f"bot{i}"] = f"{BOT_GET}?{urlencode(client.bot_params(plan.bot))}"
        for call in plan.calls:
            commands[f"{call.kind}{i}"] = f"{call.method}?{urlencode(call.params)}"
    return commands


def verify_pack(
    client: BatchCaller, pack: list[Planned], calls: list[ProbeCall] | None = None
) -> tuple[list[BotResult], PortalResult | None] | None:
    """Results for one batch and what its probe calls said (None without any), or None when the portal
    refuses imbot methods in batch."""
    commands = pack_commands(client, pack, calls)
    answer = client.call("batch", {"halt": 0, "cmd": commands})
    if isinstance(answer, BotResult):
        return _everyone(answer, pack, calls)
    if answer.error_code == NOT_ALLOWED:
        return None
    if not answer.is_success:
        # A batch-level failure (auth, 5xx, timeout, ...) is every bot's outcome, and the portal's.
        return _everyone(client.classify(answer), pack, calls)
    parsed = batch_parts(answer)
    if parsed is None:
        failure = client.classify(_as_bad(answer) if isinstance(answer.payload, Mapping) else answer)
        return _everyone(failure, pack, calls)
    results = [entry_result(f"bot{i}", *parsed, answer) for i in range(len(pack))]
    if all(r.error_code == NOT_ALLOWED for r in results):
        return None
    for i, (plan, result) in enumerate(zip(pack, results, strict=True)):
        result.attempts = answer.attempts
        if result.error_code == "OPERATION_TIME_LIMIT":
            client.block()
        client.note_time(result.time)
        for call in plan.calls:
            _apply_side(result, call, f"{call.kind}{i}", *parsed)
    mark_supported(client)
    return results, _probed(calls, *parsed) if calls else None


def _everyone(failure: BotResult, pack: list[Planned], calls: list[ProbeCall] | None):
    return [copy.deepcopy(failure) for _ in pack], probe.from_failure(failure) if calls else None


def _probed(calls: list[ProbeCall], done: dict, errors: dict, times: dict) -> PortalResult:
    portal = PortalResult()
    for call in calls:
        error = error_fields(errors[call.key]) if call.key in errors else None
        if error is None and call.key not in done:
            portal.notes.append(f"{call.method} not answered in the batch")
            continue
        probe.apply_answer(portal, call, done.get(call.key), error)
    return portal


def run_side_calls(client: BatchCaller, pairs: list[tuple[BotResult, SideCall]]) -> bool:
    """Health calls on their own (a same-run catch-up), up to 50 per batch; False when batch is refused."""
    for start in range(0, len(pairs), BATCH_SIZE):
        chunk = pairs[start : start + BATCH_SIZE]
        commands = {f"{call.kind}{i}": f"{call.method}?{urlencode(call.params)}" for i, (_, call) in enumerate(chunk)}
        answer = client.call("batch", {"halt": 0, "cmd": commands})
        parsed = batch_parts(answer) if not isinstance(answer, BotResult) and answer.is_success else None
        if parsed is None:
            if not isinstance(answer, BotResult) and answer.error_code == NOT_ALLOWED:
                return False
            for result, call in chunk:
                result.side_notes.append(f"{call.method} not answered (batch failed)")
            continue
        for i, (result, call) in enumerate(chunk):
            _apply_side(result, call, f"{call.kind}{i}", *parsed)
    return True


def _apply_side(result: BotResult, call: SideCall, key: str, done: dict, errors: dict, times: dict) -> None:
    error = error_fields(errors[key]) if key in errors else None
    if error is None and key not in done:
        result.side_notes.append(f"{call.method} not answered in the batch")
        return
    # A health call's OPERATION_TIME_LIMIT is per method: it blocks nothing; the next run retries.
    apply_side_answer(result, call, done.get(key), times.get(key), error[0] if error else None)


def batch_parts(answer: Answer) -> tuple[dict, dict, dict] | None:
    """(result, result_error, result_time) of a 200 batch answer, or None when not shaped like one."""
    outer = answer.payload.get("result") if isinstance(answer.payload, Mapping) else None
    if not isinstance(outer, Mapping):
        return None
    return (
        _collection(outer.get("result")),
        _collection(outer.get("result_error")),
        _collection(outer.get("result_time")),
    )


def entry_result(key: str, done: dict, errors: dict, times: dict, answer: Answer) -> BotResult:
    """The Bot.get result of one batch command `key`, from batch_parts(answer)."""
    if key in errors:
        error = error_fields(errors[key])
        if error is not None:
            # A command's error has no HTTP status of its own: the batch answered 200 for all of
            # them, and reporting that 200 beside BOT_NOT_FOUND would mislead whoever reads it.
            return classify_error(error[0], error[1], None, duration_ms=answer.duration_ms)
    if key in done:
        return classify_bot_payload(done[key], times.get(key), answer.http_status, duration_ms=answer.duration_ms)
    return classify_bot_payload(None, None, answer.http_status, duration_ms=answer.duration_ms)


def _collection(value) -> dict:
    # PHP serializes an empty array as [] and a 0..n-1 keyed one as a list (batch.md).
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _as_bad(answer: Answer) -> Answer:
    # A 200 that is not a batch envelope: classify as an answer without result.bot.
    return Answer(
        http_status=answer.http_status, body=b"{}", content_type="application/json", duration_ms=answer.duration_ms
    )


def mark_unsupported(client: BatchCaller) -> None:
    client.portal.batch_supported = False
    if client.persist:
        Portal.objects.filter(pk=client.portal.pk).exclude(batch_supported=False).update(batch_supported=False)


def mark_supported(client: BatchCaller) -> None:
    if client.portal.batch_supported is None:
        client.portal.batch_supported = True
        if client.persist and not client.caller_saves_batch:
            Portal.objects.filter(pk=client.portal.pk, batch_supported__isnull=True).update(batch_supported=True)

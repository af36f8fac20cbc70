"""A bot's answer probes read back: the last ones, and their answer times by hour (p50, p95)."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from checks.models import AnswerProbe

CHART_DAYS = 7


def last_probes(bot_pk: int, limit: int = 10) -> list[AnswerProbe]:
    return list(AnswerProbe.objects.filter(bot_id=bot_pk).order_by("-sent_at", "-pk")[:limit])


def percentile(values: list[int], share: float) -> int:
    """The nearest-rank percentile of sorted values."""
    return values[max(0, math.ceil(share * len(values)) - 1)]


def answer_hours(bot_pk: int, now: datetime, days: int = CHART_DAYS) -> dict:
    """{x: hour starts (epoch), p50, p95: ms, missed: probes without an answer} per hour with probes;
    `answered`: how many probes were answered in all (nothing to chart without one)."""
    rows = AnswerProbe.objects.filter(bot_id=bot_pk, sent_at__gte=now - timedelta(days=days)).exclude(
        outcome=AnswerProbe.Outcome.PENDING
    )
    hours: dict[datetime, list] = {}
    for sent_at, ms, outcome in rows.values_list("sent_at", "answer_ms", "outcome"):
        hours.setdefault(sent_at.replace(minute=0, second=0, microsecond=0), []).append((ms, outcome))
    chart = {"x": [], "p50": [], "p95": [], "missed": [], "answered": 0}
    for hour in sorted(hours):
        times = sorted(ms for ms, outcome in hours[hour] if outcome == AnswerProbe.Outcome.ANSWERED)
        chart["answered"] += len(times)
        chart["x"].append(int(hour.timestamp()))
        chart["p50"].append(percentile(times, 0.5) if times else None)
        chart["p95"].append(percentile(times, 0.95) if times else None)
        chart["missed"].append(sum(outcome == AnswerProbe.Outcome.NO_ANSWER for _, outcome in hours[hour]))
    return chart


@dataclass(frozen=True)
class AnswerSummary:
    """A bot's probes over a span: how many were answered and missed, and its answer times (ms)."""

    answered: int
    missed: int
    p50: int | None
    p95: int | None


def answer_summaries(bot_ids: list[int], start: datetime, end: datetime) -> dict[int, AnswerSummary]:
    """{bot id: summary} of the probes sent from `start` to `end`, for the bots that were probed
    then; one query whatever the number of bots."""
    rows = AnswerProbe.objects.filter(
        bot_id__in=bot_ids,
        sent_at__gte=start,
        sent_at__lt=end,
        outcome__in=[AnswerProbe.Outcome.ANSWERED, AnswerProbe.Outcome.NO_ANSWER],
    )
    times: dict[int, list[int]] = {}
    missed: dict[int, int] = {}
    for bot_id, outcome, ms in rows.values_list("bot_id", "outcome", "answer_ms"):
        times.setdefault(bot_id, [])
        if outcome == AnswerProbe.Outcome.ANSWERED and ms is not None:
            times[bot_id].append(ms)
        else:
            missed[bot_id] = missed.get(bot_id, 0) + 1
    summaries = {}
    for bot_id, values in times.items():
        values.sort()
        p50, p95 = (percentile(values, 0.5), percentile(values, 0.95)) if values else (None, None)
        summaries[bot_id] = AnswerSummary(len(values), missed.get(bot_id, 0), p50, p95)
    return summaries

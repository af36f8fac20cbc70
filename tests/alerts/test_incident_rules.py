"""The incident rules, pure: a status, a streak, a threshold and an open incident in; a decision out."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.alerts.rules import (
    Action,
    Decision,
    OpenIncident,
    decide,
    is_quiet,
    reminder_due,
    threshold_for,
    threshold_for_problems,
    validate_thresholds,
    worse,
)
from checks.status import DEFAULT_THRESHOLDS, SEVERITY, Status

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BAD = [s for s in Status if s != Status.OK]


def open_incident(status=Status.RATE_LIMITED, last=None, suppressed=False):
    return OpenIncident(status=status, last_status=last or status, suppressed=suppressed)


def test_not_found_opens_at_the_first_occurrence():
    assert decide(Status.NOT_FOUND, failures=1, threshold=threshold_for(Status.NOT_FOUND), incident=None) == Decision(
        Action.OPEN, alert=True
    )


@pytest.mark.parametrize("status", [Status.NOT_OWNER, Status.AUTH_FAILED, Status.MISCONFIGURED, Status.ERROR])
def test_two_in_a_row_statuses_wait_for_the_second(status):
    threshold = threshold_for(status)
    assert threshold == 2
    assert decide(status, failures=1, threshold=threshold, incident=None).action == Action.NOTHING
    assert decide(status, failures=2, threshold=threshold, incident=None).action == Action.OPEN


@pytest.mark.parametrize("status", [Status.RATE_LIMITED, Status.SERVER_ERROR, Status.UNREACHABLE])
def test_transient_statuses_wait_for_three(status):
    assert decide(status, failures=2, threshold=threshold_for(status), incident=None).action == Action.NOTHING
    assert decide(status, failures=3, threshold=threshold_for(status), incident=None).action == Action.OPEN


def test_a_zero_streak_still_counts_the_bad_verification_being_judged():
    # An engine that has not counted the failure yet must not silence not_found.
    assert decide(Status.NOT_FOUND, failures=0, threshold=1, incident=None).action == Action.OPEN


def test_ok_without_incident_does_nothing():
    assert decide(Status.OK, failures=0, threshold=1, incident=None).action == Action.NOTHING


def test_ok_resolves_and_alerts():
    assert decide(Status.OK, failures=0, threshold=1, incident=open_incident()) == Decision(Action.RESOLVE, alert=True)


def test_more_severe_status_escalates_with_an_alert():
    decision = decide(Status.NOT_FOUND, failures=4, threshold=1, incident=open_incident(Status.RATE_LIMITED))
    assert decision == Decision(Action.ESCALATE, alert=True)


def test_less_severe_status_is_recorded_without_alert():
    decision = decide(Status.RATE_LIMITED, failures=4, threshold=3, incident=open_incident(Status.NOT_FOUND))
    assert decision == Decision(Action.CHANGE, alert=False)


def test_same_status_again_does_nothing():
    assert decide(Status.NOT_FOUND, failures=5, threshold=1, incident=open_incident(Status.NOT_FOUND)) == Decision(
        Action.NOTHING
    )


def test_back_to_the_worst_status_after_a_milder_one_does_not_alert_again():
    incident = open_incident(Status.NOT_FOUND, last=Status.RATE_LIMITED)
    assert decide(Status.NOT_FOUND, failures=6, threshold=1, incident=incident) == Decision(Action.CHANGE)


def test_quiet_time_opens_silently():
    assert decide(Status.NOT_FOUND, failures=1, threshold=1, incident=None, quiet=True) == Decision(
        Action.OPEN, alert=False
    )


def test_quiet_time_escalates_silently():
    decision = decide(Status.NOT_FOUND, failures=3, threshold=1, incident=open_incident(), quiet=True)
    assert decision == Decision(Action.ESCALATE, alert=False)


def test_suppressed_incident_is_released_once_quiet_time_ends():
    decision = decide(
        Status.NOT_FOUND, failures=3, threshold=1, incident=open_incident(Status.NOT_FOUND, suppressed=True)
    )
    assert decision == Decision(Action.RELEASE, alert=True)


def test_suppressed_incident_resolves_without_email():
    incident = open_incident(suppressed=True)
    assert decide(Status.OK, failures=0, threshold=1, incident=incident) == Decision(Action.RESOLVE, alert=False)


def test_resolve_during_quiet_time_is_silent():
    assert decide(Status.OK, failures=0, threshold=1, incident=open_incident(), quiet=True) == Decision(
        Action.RESOLVE, alert=False
    )


@given(
    status=st.sampled_from(BAD),
    failures=st.integers(min_value=0, max_value=10),
    threshold=st.integers(min_value=1, max_value=10),
)
def test_without_incident_a_bad_status_opens_exactly_at_its_threshold(status, failures, threshold):
    action = decide(status, failures=failures, threshold=threshold, incident=None).action
    assert action == (Action.OPEN if max(failures, 1) >= threshold else Action.NOTHING)


@given(
    status=st.sampled_from(BAD),
    worst=st.sampled_from(BAD),
    last=st.sampled_from(BAD),
    quiet=st.booleans(),
)
def test_an_open_incident_alerts_again_only_when_it_gets_worse(status, worst, last, quiet):
    decision = decide(status, failures=5, threshold=1, incident=OpenIncident(worst, last), quiet=quiet)
    assert decision.action != Action.OPEN  # one incident per episode
    if decision.alert:
        assert SEVERITY[status] > SEVERITY[worst] and not quiet


def test_portal_thresholds_override_the_defaults():
    assert threshold_for(Status.NOT_OWNER, {"not_owner": 5}) == 5
    assert threshold_for(Status.RATE_LIMITED, {"not_owner": 5}) == DEFAULT_THRESHOLDS[Status.RATE_LIMITED]


@pytest.mark.parametrize("bad", [0, -1, "3", True, None, 2.5])
def test_a_bad_stored_threshold_falls_back_on_the_default(bad):
    assert threshold_for(Status.NOT_OWNER, {"not_owner": bad}) == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"not_ownr": 2}, "unknown status 'not_ownr'"),
        ({"not_owner": 0}, "thresholds.not_owner: 0 is not a whole number of at least 1"),
        ({"rate_limited": "3"}, "thresholds.rate_limited: '3'"),
        ([1, 2], "thresholds must be a mapping"),
        ({"ok": 1}, "unknown status 'ok'"),
    ],
)
def test_validate_thresholds_names_the_problem(data, message):
    with pytest.raises(ValueError, match=message):
        validate_thresholds(data)


def test_validate_thresholds_accepts_good_values():
    assert validate_thresholds({"not_owner": 3, "unreachable": 10}) == {"not_owner": 3, "unreachable": 10}


def test_quiet_while_muted_or_in_a_window():
    hour = timedelta(hours=1)
    assert is_quiet(NOW, muted_until=[NOW + hour])
    assert not is_quiet(NOW, muted_until=[NOW - hour, None])
    assert is_quiet(NOW, windows=[(NOW - hour, NOW + hour)])
    assert not is_quiet(NOW, windows=[(NOW - 2 * hour, NOW - hour)])
    assert is_quiet(NOW, windows=[(NOW, NOW + hour)])  # the start is inside the window
    assert not is_quiet(NOW, windows=[(NOW - hour, NOW)])  # the end is not


def test_reminders_every_period_until_acknowledged():
    opened = NOW - timedelta(hours=25)
    assert reminder_due(opened_at=opened, last_reminder_at=None, acknowledged=False, hours=24, now=NOW) == 1
    assert (
        reminder_due(opened_at=opened, last_reminder_at=NOW - timedelta(hours=1), acknowledged=False, hours=24, now=NOW)
        is None
    )
    later = NOW + timedelta(hours=24)
    assert reminder_due(opened_at=opened, last_reminder_at=NOW, acknowledged=False, hours=24, now=later) == 2
    assert reminder_due(opened_at=opened, last_reminder_at=None, acknowledged=True, hours=24, now=NOW) is None


def test_reminders_off_with_zero_hours_and_not_before_the_first_period():
    assert (
        reminder_due(opened_at=NOW - timedelta(days=9), last_reminder_at=None, acknowledged=False, hours=0, now=NOW)
        is None
    )
    assert (
        reminder_due(opened_at=NOW - timedelta(hours=23), last_reminder_at=None, acknowledged=False, hours=24, now=NOW)
        is None
    )


def test_worse_picks_the_more_severe():
    assert worse(Status.RATE_LIMITED, Status.NOT_FOUND) == Status.NOT_FOUND
    assert worse(Status.NOT_FOUND, Status.RATE_LIMITED) == Status.NOT_FOUND


# Degraded: installed but broken.


def degraded_incident(*keys: str) -> OpenIncident:
    return OpenIncident(status=Status.DEGRADED, last_status=Status.DEGRADED, problem_keys=frozenset(keys))


def test_degraded_alerts_after_two_in_a_row_and_portal_thresholds_apply():
    threshold = threshold_for(Status.DEGRADED)
    assert threshold == 2
    assert decide(Status.DEGRADED, failures=1, threshold=threshold, incident=None).action == Action.NOTHING
    assert decide(Status.DEGRADED, failures=2, threshold=threshold, incident=None) == Decision(Action.OPEN, alert=True)
    assert validate_thresholds({"degraded": 3}) == {"degraded": 3}
    assert threshold_for_problems(Status.DEGRADED, [{"key": "drift:language"}], {"degraded": 3}) == 3


def test_a_critical_backlog_opens_at_once():
    critical = [{"check": "event_backlog", "key": "event_backlog:20h", "critical": True}]
    assert threshold_for_problems(Status.DEGRADED, critical, {"degraded": 3}) == 1
    assert decide(Status.DEGRADED, failures=1, threshold=1, incident=None).action == Action.OPEN


def test_a_new_problem_inside_an_open_degraded_incident_escalates():
    incident = degraded_incident("drift:eventMode")
    same = decide(
        Status.DEGRADED, failures=3, threshold=2, incident=incident, problem_keys=frozenset({"drift:eventMode"})
    )
    assert same.action == Action.NOTHING
    more = decide(
        Status.DEGRADED,
        failures=3,
        threshold=2,
        incident=incident,
        problem_keys=frozenset({"drift:eventMode", "user_inactive"}),
    )
    assert more == Decision(Action.ESCALATE, alert=True)
    # The backlog crossing 20 h is a new key of its own: it escalates too.
    older = decide(
        Status.DEGRADED,
        failures=4,
        threshold=2,
        incident=degraded_incident("event_backlog"),
        problem_keys=frozenset({"event_backlog:20h"}),
    )
    assert older.action == Action.ESCALATE
    # A problem gone is no news.
    fewer = decide(
        Status.DEGRADED, failures=4, threshold=2, incident=degraded_incident("a", "b"), problem_keys=frozenset({"a"})
    )
    assert fewer.action == Action.NOTHING

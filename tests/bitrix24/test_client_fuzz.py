"""Whatever a portal sends, the parser returns a BotResult with a status and never raises."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.bitrix24.outcome import classify_bot_payload, classify_response
from checks.bitrix24.transport import Answer
from checks.bitrix24.types import BotResult
from checks.status import Status
from tests.bitrix24.helpers import parse_batch

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=12,
)

# Bodies shaped like Bitrix24 answers, with any value in any place.
KEYS = [
    "result",
    "bot",
    "users",
    "time",
    "error",
    "error_description",
    "countMessage",
    "countCommand",
    "countChat",
    "countUser",
    "id",
    "code",
    "operating",
    "operating_reset_at",
    "duration",
]
shaped = st.recursive(
    json_values,
    lambda children: st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=16,
)
statuses = st.sampled_from([200, 201, 204, 400, 401, 403, 404, 405, 410, 429, 500, 502, 503, 504])
content_types = st.sampled_from(["application/json", "text/html", "", "application/json; charset=utf-8"])


def check(result: BotResult) -> None:
    assert isinstance(result, BotResult)
    assert result.status in Status.values
    assert isinstance(result.error_description, str)
    json.dumps(result.fields)
    json.dumps(result.users)
    json.dumps(result.time)
    if result.counters is not None:
        assert result.status == Status.OK
        assert all(isinstance(v, int) for v in result.counters.values())


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, body=st.binary(max_size=300), content_type=content_types)
def test_random_bytes_never_crash(status, body, content_type):
    check(classify_response(status, body, content_type))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, value=shaped)
def test_shaped_json_never_crashes(status, value):
    check(classify_response(status, json.dumps(value).encode(), "application/json"))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(bot=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8), time=json_values, users=json_values)
def test_any_bot_object_never_crashes(bot, time, users):
    check(classify_bot_payload({"bot": bot, "users": users}, time, 200))


@settings(max_examples=100)
@given(text=st.text(max_size=200))
def test_text_bodies_never_crash(text):
    check(classify_response(200, text, "text/plain"))
    check(classify_response(500, text.encode("utf-8", "surrogatepass"), "text/plain"))


bot_results = st.fixed_dictionaries({"bot": st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)})
batch_bodies = st.fixed_dictionaries(
    {
        "result": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "result": st.dictionaries(st.sampled_from(["bot0", "bot1", "0"]), bot_results, max_size=3),
                    "result_error": st.one_of(
                        st.dictionaries(st.sampled_from(["bot0", "bot1"]), json_values, max_size=2),
                        st.lists(json_values),
                    ),
                    "result_time": json_values,
                }
            ),
        )
    }
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(body=batch_bodies)
def test_batch_answers_never_crash(body):
    answer = Answer(http_status=200, body=json.dumps(body).encode(), content_type="application/json")
    results = parse_batch(answer, ["bot0", "bot1"])
    if results is not None:
        assert len(results) == 2
        for result in results:
            check(result)

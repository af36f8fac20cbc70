"""checks/bitrix24/outcome.py: every status of docs/statuses.md, without I/O."""

import json

import pytest

from checks.bitrix24.outcome import (
    ADDRESS_FAILURES,
    CODE_STATUS,
    TransportFailure,
    classify_bot_payload,
    classify_error,
    classify_response,
    classify_transport,
    parse_json,
    status_for_code,
)
from checks.status import ResponseFormat, Status

EXTENDED_BOT = {
    "id": 456,
    "code": "support_bot",
    "type": "bot",
    "isHidden": False,
    "isSupportOpenline": False,
    "isReactionsEnabled": True,
    "backgroundId": None,
    "language": "de",
    "moduleId": "rest",
    "eventMode": "fetch",
    "countMessage": 150,
    "countCommand": 3,
    "countChat": 12,
    "countUser": 45,
}
BRIEF_BOT = {k: v for k, v in EXTENDED_BOT.items() if k not in ("moduleId", "eventMode") and not k.startswith("count")}
TIME = {
    "start": 1728626400.123,
    "finish": 1728626400.234,
    "duration": 0.111,
    "processing": 0.045,
    "date_start": "2024-10-11T10:00:00+02:00",
    "date_finish": "2024-10-11T10:00:00+02:00",
    "operating": 12.5,
    "operating_reset_at": 1728627000,
}
USERS = [{"id": 456, "active": True, "name": "Support Bot", "bot": True, "type": "bot"}]


def envelope(bot) -> bytes:
    return json.dumps({"result": {"bot": bot, "users": USERS}, "time": TIME}).encode()


def error_body(code: str, description: str = "text") -> bytes:
    return json.dumps({"error": code, "error_description": description}).encode()


# (HTTP status, error code, expected status): the error codes and what each means (docs/statuses.md).
ERROR_ROWS = [
    (400, "BOT_NOT_FOUND", Status.NOT_FOUND),
    (401, "NO_AUTH_FOUND", Status.AUTH_FAILED),
    (401, "expired_token", Status.AUTH_FAILED),
    (401, "invalid_token", Status.AUTH_FAILED),
    (400, "invalid_grant", Status.AUTH_FAILED),
    (401, "invalid_client", Status.AUTH_FAILED),
    (403, "INVALID_CREDENTIALS", Status.AUTH_FAILED),
    (403, "insufficient_scope", Status.AUTH_FAILED),
    (403, "user_access_error", Status.AUTH_FAILED),
    (401, "ERROR_OAUTH", Status.AUTH_FAILED),
    (401, "APPLICATION_NOT_FOUND", Status.AUTH_FAILED),
    (400, "BOT_TOKEN_NOT_SPECIFIED", Status.MISCONFIGURED),
    (400, "CLIENT_ID_NOT_SPECIFIED", Status.MISCONFIGURED),
    (400, "PARAMS_REQUIRED", Status.MISCONFIGURED),
    (400, "INVALID_REQUEST", Status.MISCONFIGURED),
    (404, "ERROR_METHOD_NOT_FOUND", Status.MISCONFIGURED),
    (403, "ACCESS_DENIED", Status.PORTAL_UNAVAILABLE),
    (500, "PORTAL_DELETED", Status.PORTAL_UNAVAILABLE),
    (410, "PORTAL_DELETED", Status.PORTAL_UNAVAILABLE),
    (503, "OVERLOAD_LIMIT", Status.PORTAL_UNAVAILABLE),
    (503, "QUERY_LIMIT_EXCEEDED", Status.RATE_LIMITED),
    (429, "QUERY_LIMIT_EXCEEDED", Status.RATE_LIMITED),
    (429, "OPERATION_TIME_LIMIT", Status.RATE_LIMITED),
    (500, "INTERNAL_SERVER_ERROR", Status.SERVER_ERROR),
    (500, "ERROR_UNEXPECTED_ANSWER", Status.SERVER_ERROR),
    (400, "BOT_OWNERSHIP_ERROR", Status.NOT_OWNER),  # what a rotated botToken gets
    (404, "ERROR_MANIFEST_IS_NOT_AVAILABLE", Status.ERROR),
    (400, "ERROR_BATCH_LENGTH_EXCEEDED", Status.ERROR),
    # Unknown codes fall back on the HTTP status.
    (401, "SOMETHING_NEW", Status.AUTH_FAILED),
    (403, "SOMETHING_NEW", Status.AUTH_FAILED),
    (429, "SOMETHING_NEW", Status.RATE_LIMITED),
    (503, "SOMETHING_NEW", Status.RATE_LIMITED),
    (500, "SOMETHING_NEW", Status.SERVER_ERROR),
    (502, "SOMETHING_NEW", Status.SERVER_ERROR),
    (504, "SOMETHING_NEW", Status.SERVER_ERROR),
    (400, "SOMETHING_NEW", Status.ERROR),
    (404, "SOMETHING_NEW", Status.ERROR),
    (200, "SOMETHING_NEW", Status.ERROR),
]


@pytest.mark.parametrize(("http_status", "code", "expected"), ERROR_ROWS)
def test_error_code_is_classified_and_recorded_verbatim(http_status, code, expected):
    result = classify_response(http_status, error_body(code, "Bot not found"), "application/json", duration_ms=7)
    assert result.status == expected
    assert result.error_code == code
    assert result.error_description == "Bot not found"
    assert result.http_status == http_status
    assert result.duration_ms == 7
    assert result.counters is None


def test_every_mapped_code_has_a_row():
    assert set(CODE_STATUS) - {row[1] for row in ERROR_ROWS} <= {
        "BOT_ID_REQUIRED",
        "authorization_error",
        "METHOD_CONFIRM_WAITING",
        "invalid_request",
        "invalid_scope",
        "PAYMENT_REQUIRED",
    }


def test_codes_are_case_sensitive_https_required_versus_oauth_invalid_request():
    assert status_for_code("INVALID_REQUEST", 400) == Status.MISCONFIGURED
    assert status_for_code("invalid_request", 400) == Status.AUTH_FAILED


def test_missing_description_falls_back_on_the_code():
    result = classify_response(400, b'{"error": "BOT_NOT_FOUND"}')
    assert result.error_description == "BOT_NOT_FOUND"


def test_extended_format_is_ok_with_counters_fields_users_and_time():
    result = classify_response(200, envelope(EXTENDED_BOT), "application/json", duration_ms=111)
    assert result.status == Status.OK
    assert result.ok
    assert result.response_format == ResponseFormat.EXTENDED
    assert result.counters == {"countMessage": 150, "countCommand": 3, "countChat": 12, "countUser": 45}
    assert result.fields == EXTENDED_BOT
    assert result.users == USERS
    assert result.time["duration"] == 0.111
    assert result.time["operating_reset_at"] == 1728627000
    assert result.operating == 12.5
    assert result.error_code is None
    assert result.http_status == 200


def test_brief_format_is_not_owner():
    result = classify_response(200, envelope(BRIEF_BOT))
    assert result.status == Status.NOT_OWNER
    assert result.response_format == ResponseFormat.BRIEF
    assert result.counters is None
    assert result.fields["code"] == "support_bot"
    assert "brief" in result.error_description


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"<html><body>Hello</body></html>", "text/html; charset=utf-8", "not JSON (text/html"),
        (b"", "", "empty body"),
        (b'{"result": {"bot": {"id": 1', "application/json", "not JSON"),
        (b"[1, 2, 3]", "application/json", "not an object"),
        (b'"text"', "application/json", "not an object"),
        (b'{"time": {}}', "application/json", "no result object"),
        (b'{"result": []}', "application/json", "no result object"),
        (b'{"result": {"users": []}}', "application/json", "no result.bot"),
        (b'{"result": {"bot": []}}', "application/json", "no result.bot"),
        (b'{"result": {"bot": {}}}', "application/json", "no result.bot"),
        (b'{"result": {"bot": {"id": 1, "countMessage": "many"}}}', "application/json", "countMessage"),
        (b'{"result": {"bot": {"id": 1, "countMessage": 1}}}', "application/json", "countCommand is missing"),
        (b'{"result": {"bot": {"id": 1, "countMessage": NaN}}}', "application/json", "not JSON"),
        (b"\xff\xfe\x00garbage", "application/octet-stream", "not JSON"),
    ],
)
def test_2xx_without_json_or_result_bot_is_bad_response(body, content_type, fragment):
    result = classify_response(200, body, content_type)
    assert result.status == Status.BAD_RESPONSE
    assert fragment in result.error_description
    assert result.error_code is None


@pytest.mark.parametrize(
    ("http_status", "expected"),
    [
        (500, Status.SERVER_ERROR),
        (502, Status.SERVER_ERROR),
        (503, Status.SERVER_ERROR),
        (504, Status.SERVER_ERROR),
        (401, Status.AUTH_FAILED),
        (403, Status.AUTH_FAILED),
        (429, Status.RATE_LIMITED),
        (404, Status.ERROR),
    ],
)
def test_html_error_pages_fall_back_on_http_status(http_status, expected):
    result = classify_response(http_status, b"<html><h1>Bad Gateway</h1></html>", "text/html")
    assert result.status == expected
    assert result.error_code is None
    assert result.error_description.startswith(f"HTTP {http_status}: body is not JSON (text/html")


def test_html_body_is_never_copied_into_the_description():
    result = classify_response(500, b"<html>secret-looking-page-content</html>", "text/html")
    assert "secret-looking" not in result.error_description


def test_counters_given_as_integer_strings_are_accepted():
    bot = dict(EXTENDED_BOT, countMessage="150")
    result = classify_response(200, envelope(bot))
    assert result.status == Status.OK
    assert result.counters["countMessage"] == 150


def test_counter_too_large_for_the_database_is_bad_response():
    bot = dict(EXTENDED_BOT, countMessage=2**70)
    assert classify_response(200, envelope(bot)).status == Status.BAD_RESPONSE


def test_odd_time_fields_are_dropped():
    body = json.dumps({"result": {"bot": EXTENDED_BOT}, "time": {"duration": "slow", "operating": 3}}).encode()
    result = classify_response(200, body)
    assert result.time == {"operating": 3}
    assert result.users == []


def test_batch_entry_payload_is_classified_like_a_single_answer():
    result = classify_bot_payload({"bot": EXTENDED_BOT, "users": USERS}, TIME, 200, duration_ms=5)
    assert result.status == Status.OK
    assert result.time["processing"] == 0.045
    assert classify_bot_payload({"bot": BRIEF_BOT}, None, 200).status == Status.NOT_OWNER
    assert classify_bot_payload(None, None, 200).status == Status.BAD_RESPONSE


def test_classify_error_directly():
    result = classify_error("OPERATION_TIME_LIMIT", "", 429)
    assert result.status == Status.RATE_LIMITED
    assert result.error_description == "OPERATION_TIME_LIMIT"


@pytest.mark.parametrize("failure", list(TransportFailure))
def test_transport_failures_are_unreachable_and_name_the_kind(failure):
    result = classify_transport(failure, "portal.example.com:443", duration_ms=3)
    # An address that cannot be used is the configuration's fault: no waiting cures it.
    assert result.status == (Status.MISCONFIGURED if failure in ADDRESS_FAILURES else Status.UNREACHABLE)
    assert result.error_description.startswith(failure.value)
    assert "portal.example.com:443" in result.error_description
    assert result.http_status is None


def test_parse_json_never_raises_on_deep_nesting():
    assert parse_json(b"[" * 100000) is None

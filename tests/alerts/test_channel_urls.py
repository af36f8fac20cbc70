"""Channel URLs, pure: what is accepted, what pages show of them, and what is kept out of errors."""

import pytest

from checks.alerts.channel_urls import (
    ChannelURLError,
    fingerprint,
    label,
    mask,
    parse_bitrix24_url,
    scrub,
    url_secrets,
    validate_channel_url,
)

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
TELEGRAM = "tgram://123456789:AAHbcdefg/12345"
BITRIX24 = "bitrix24s://team.bitrix24.com/rest/1/h00k-c0de/?dialog=chat42"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (SLACK, "slack://…"),
        (TELEGRAM, "tgram://…"),
        ("ntfy://s3cret-topic", "ntfy://…"),
        ("json://127.0.0.1:8123/hook", "json://127.0.0.1"),
        ("jsons://user:p4ss@hooks.example.com/path?token=x", "jsons://hooks.example.com"),
        (BITRIX24, "bitrix24s://team.bitrix24.com"),
        ("https://hooks.slack.com/services/T1/B2/C3", "https://hooks.slack.com"),
    ],
)
def test_pages_see_the_scheme_and_a_real_host_at_most(url, shown):
    assert validate_channel_url(url, allow_http=False) == url
    assert mask(url) == shown
    assert label(url).startswith(shown + " #") and len(label(url)) == len(shown) + 8


def test_fingerprints_tell_channels_apart_and_hide_them():
    one, two = "json://127.0.0.1:8123/a", "json://127.0.0.1:8123/b"
    assert fingerprint(one) == fingerprint(" " + one) != fingerprint(two)
    assert "127.0.0.1" not in fingerprint(one) and len(fingerprint(one)) == 64
    assert label(one) != label(two)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "non-empty string"),
        ("hooks.example.com/x", "not a URL"),
        ("slack://x0xb", "slack://… is not a notification URL Apprise can use"),
        ("nosuchscheme://abc/def", "nosuchscheme://… is not a notification URL Apprise can use"),
        ("json://exa mple.com", "spaces or control characters"),
        ("bitrix24://team.bitrix24.com/rest/1/h00k-c0de/?dialog=chat42", "plain HTTP"),
        ("bitrix24s://team.bitrix24.com/h00k-c0de/?dialog=chat42", "/rest/USER_ID/WEBHOOK_CODE/"),
        ("bitrix24s://team.bitrix24.com/rest/1/h00k-c0de/", "?dialog=chatNN"),
        ("bitrix24s://u:h00k-c0de@team.bitrix24.com/rest/1/x/?dialog=4", "without a user name"),
    ],
)
def test_bad_urls_are_refused_without_echoing_them(url, problem):
    with pytest.raises(ChannelURLError) as caught:
        validate_channel_url(url, allow_http=False)
    assert problem in str(caught.value)
    for secret in ("x0xb", "h00k-c0de", "abc/def"):
        assert secret not in str(caught.value)


def test_bitrix24_url_gives_the_webhook_method_and_the_dialog():
    chat = parse_bitrix24_url("bitrix24://127.0.0.1:8090/team/rest/7/h00k/?dialog=chat42", allow_http=True)
    assert chat.endpoint == "http://127.0.0.1:8090/team/rest/7/h00k/im.message.add.json"
    assert (chat.host, chat.port, chat.secure, chat.dialog) == ("127.0.0.1", 8090, False, "chat42")
    assert parse_bitrix24_url(BITRIX24, allow_http=False).endpoint.startswith("https://team.bitrix24.com/rest/1/")


def test_scrub_masks_the_url_and_every_secret_piece():
    text = f"Could not load {SLACK}; token TIiajkdnlazkcOXrIdevi7FQ refused; chat 12345 of 123456789:AAHbcdefg"
    clean = scrub(scrub(text, url_secrets(SLACK), SLACK), url_secrets(TELEGRAM), TELEGRAM)
    assert clean == "Could not load slack://…; token [redacted] refused; chat [redacted] of [redacted]"

"""/api/v1/portals: one portal in the shape of the portal file, the importer's validation, secrets write-only."""

import json

import pytest
from django.core import mail

from checks.models import AuditLog, AuthType, Bot, Incident, Portal
from checks.portal_file.load import PortalFileError, import_portal_file
from tests.fixtures.api import call, entry, issue
from tests.fixtures.dashboard import make_portal

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

SECRETS = ("whk-s3cret", "tok-s3cret", "tok2-s3cret")


def test_post_adds_one_portal_and_its_bots_and_answers_without_secrets(client, write_token):
    response = call(client, "post", "/api/v1/portals", write_token, entry())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "acme" and body["webhook"] == {"user_id": 1}
    assert body["bots"] == [{"code": "support_bot"}, {"id": 456}]
    assert body["summary"]["bots"] == 2 and body["summary"]["by_status"] == {"pending": 2}
    assert not any(secret in response.content.decode() for secret in SECRETS)
    portal = Portal.objects.get(name="acme")
    assert portal.webhook_code == "whk-s3cret" and portal.alert_emails == ["oncall@example.com"]
    assert sorted(Bot.objects.values_list("code", "bot_token")) == [("", "tok2-s3cret"), ("support_bot", "tok-s3cret")]
    log = AuditLog.objects.get(action="add portal")
    assert log.actor == "API token write-token" and log.object_repr == "acme"
    assert log.changes["secrets changed"] == ["webhook.code"]
    assert not any(secret in json.dumps(log.changes) for secret in SECRETS)


def test_post_of_an_existing_name_is_400_and_names_the_way_to_change_it(client, write_token):
    call(client, "post", "/api/v1/portals", write_token, entry())
    response = call(client, "post", "/api/v1/portals", write_token, entry(interval=600))
    assert response.status_code == 400
    assert response.json() == {"name": ["a portal named 'acme' exists: PUT or PATCH /api/v1/portals/acme changes it"]}
    assert Portal.objects.get().interval is None


def test_bad_input_is_400_with_a_message_per_field_and_writes_nothing(client, write_token):
    bad = entry(url="ftp://acme", interval=5, alert_emails=["not-an-email"], colour="red")
    bad["webhook"] = {"user_id": "one"}
    bad["bots"] = [{"code": "a"}, {"id": 0, "bot_token": "t", "expect": {"eventMode": "push"}}]
    response = call(client, "post", "/api/v1/portals", write_token, bad)
    assert response.status_code == 400
    assert response.json() == {
        "colour": [
            "unknown key 'colour' (allowed: alert_emails, answer_webhook, bots, customer, interval, language, "
            "monthly_report, name, notify, notify_mode, oauth, paused, routes, tags, thresholds, url, webhook)"
        ],
        "url": ["url: The address must be an https:// address with a host name"],
        "webhook.user_id": ["user_id must be a positive whole number"],
        "webhook.code": ["code is required"],
        "alert_emails[0]": ["'not-an-email' is not an email address"],
        "interval": ["interval must be a whole number of seconds, at least 30"],
        "bots[0].bot_token": ["bot_token is required for webhook portals"],
        "bots[1].id": ["id must be a positive whole number"],
        "bots[1].expect.eventMode": ["must be fetch or webhook"],
    }  # fmt: skip
    assert not Portal.objects.exists() and not AuditLog.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"portals": [entry()]},
        [entry()],
        "acme",
    ],
    ids=["a-whole-file", "a-list", "a-string"],
)
def test_the_body_must_be_exactly_one_portal(client, write_token, body):
    response = call(client, "post", "/api/v1/portals", write_token, body)
    assert response.status_code == 400
    assert not Portal.objects.exists()
    assert list(response.json()) == ["non_field_errors"]


def test_the_api_and_the_importer_find_the_same_problems(client, write_token):
    bad = entry(url="https://acme.bitrix24.example", thresholds={"nope": 1})
    bad["oauth"] = {"client_id": "x", "broker_url": "https://b.example/t"}
    del bad["webhook"]
    with pytest.raises(PortalFileError) as excinfo:
        import_portal_file(json.dumps({"portals": [bad]}), fmt="json")
    from_file = sorted(p.split(": ", 1)[1] for p in excinfo.value.problems)
    response = call(client, "post", "/api/v1/portals", write_token, bad)
    from_api = sorted(m for messages in response.json().values() for m in messages)
    assert from_api == from_file and len(from_api) == 2


def test_a_brokered_oauth_portal_is_added_and_its_broker_secret_never_answered(client, write_token):
    body = entry(bots=[{"code": "app_bot"}])
    del body["webhook"]
    body["oauth"] = {"client_id": "local.app", "broker_url": "https://app.example/token", "broker_secret": "brk-zz9"}
    response = call(client, "post", "/api/v1/portals", write_token, body)
    assert response.status_code == 201, response.content
    assert response.json()["oauth"] == {"client_id": "local.app", "broker_url": "https://app.example/token"}
    assert "brk-zz9" not in response.content.decode()
    portal = Portal.objects.get()
    assert portal.auth_type == AuthType.OAUTH and portal.oauth_broker_secret == "brk-zz9"


def test_put_creates_then_updates_and_secrets_left_out_are_kept(client, write_token):
    created = call(client, "put", "/api/v1/portals/acme", write_token, entry())
    assert created.status_code == 201
    again = entry(interval=600, bots=[{"code": "support_bot", "enabled": False}])
    del again["webhook"]["code"], again["name"]
    updated = call(client, "put", "/api/v1/portals/acme", write_token, again)
    assert updated.status_code == 200, updated.content
    portal = Portal.objects.get()
    assert portal.interval == 600 and portal.webhook_code == "whk-s3cret"
    assert Bot.objects.get(code="support_bot").enabled is False
    assert Bot.objects.get(code="support_bot").bot_token == "tok-s3cret"
    assert Bot.objects.count() == 2  # bots not listed stay, as with the portal file
    assert [a.action for a in AuditLog.objects.order_by("pk")] == ["add portal", "edit portal"]


def test_put_with_another_name_in_the_body_is_400(client, write_token):
    response = call(client, "put", "/api/v1/portals/acme", write_token, entry(name="globex"))
    assert response.status_code == 400
    assert response.json() == {"name": ["must be 'acme', the portal in the address, or be left out"]}


def test_patch_changes_only_the_keys_given(client, write_token):
    call(client, "post", "/api/v1/portals", write_token, entry(interval=300))
    response = call(client, "patch", "/api/v1/portals/acme", write_token, {"paused": True, "webhook": {"code": "new"}})
    assert response.status_code == 200, response.content
    portal = Portal.objects.get()
    assert (portal.paused, portal.interval, portal.webhook_user_id, portal.webhook_code) == (True, 300, 1, "new")
    assert AuditLog.objects.filter(action="edit portal").get().changes["secrets changed"] == ["webhook.code"]


def test_patch_moves_a_portal_to_a_token_broker(client, write_token):
    call(client, "post", "/api/v1/portals", write_token, entry())
    oauth = {"client_id": "local.app", "broker_url": "https://app.example/token", "broker_secret": "brk"}
    response = call(client, "patch", "/api/v1/portals/acme", write_token, {"oauth": oauth})
    assert response.status_code == 200, response.content
    assert Portal.objects.get().uses_broker
    assert "webhook" not in response.json()


def test_patch_with_a_bad_value_is_400_and_changes_nothing(client, write_token):
    call(client, "post", "/api/v1/portals", write_token, entry())
    response = call(client, "patch", "/api/v1/portals/acme", write_token, {"interval": 10, "paused": "yes"})
    assert response.status_code == 400
    assert response.json() == {
        "interval": ["interval must be a whole number of seconds, at least 30"],
        "paused": ["paused must be true or false"],
    }
    assert Portal.objects.get().interval is None


def test_delete_removes_the_portal_and_is_audited(client, write_token):
    make_portal("acme")
    response = call(client, "delete", "/api/v1/portals/acme", write_token)
    assert response.status_code == 204
    assert not Portal.objects.exists() and not Bot.objects.exists()
    assert AuditLog.objects.get(action="delete portal").changes == {"bots": 2}
    assert call(client, "delete", "/api/v1/portals/acme", write_token).status_code == 404


def test_the_portal_list_is_paged_by_cursor(client, write_token):
    for name in ("c-portal", "a-portal", "b-portal"):
        make_portal(name, n_bots=1)
    first = call(client, "get", "/api/v1/portals", write_token, limit=2).json()
    assert [p["name"] for p in first["results"]] == ["a-portal", "b-portal"]
    second = client.get(first["next"], headers={"Authorization": f"Bearer {write_token}"}).json()
    assert [p["name"] for p in second["results"]] == ["c-portal"] and second["next"] is None
    assert second["results"][0]["summary"]["bots"] == 1


def test_the_portal_list_reads_a_fixed_number_of_queries(client, write_token, django_assert_max_num_queries):
    for i in range(30):
        make_portal(f"p{i:02d}", n_bots=3)
    with django_assert_max_num_queries(8):
        response = call(client, "get", "/api/v1/portals", write_token)
    assert len(response.json()["results"]) == 30


def test_check_now_queues_the_portal_and_refuses_a_paused_one(client, write_token):
    portal = make_portal("acme")
    response = call(client, "post", "/api/v1/portals/acme/check", write_token)
    assert response.status_code == 202 and response.json() == {"portal": "acme", "detail": "queued"}
    portal.refresh_from_db()
    assert portal.claim_token is not None  # claimed for the run a worker picks up
    assert AuditLog.objects.get(action="check now").object_repr == "acme"
    again = call(client, "post", "/api/v1/portals/acme/check", write_token)
    assert again.status_code == 409 and "running already" in again.json()["detail"]
    Portal.objects.filter(pk=portal.pk).update(paused=True, claim_token=None, claimed_until=None)
    paused = call(client, "post", "/api/v1/portals/acme/check", write_token)
    assert paused.status_code == 409 and "paused" in paused.json()["detail"]


def test_uninstalled_verifies_the_portal_at_once_and_a_missing_bot_alerts(
    client, write_token, simulator, django_capture_on_commit_callbacks
):
    simulator.add_portal("acme", webhook_user_id=1, webhook_code="whk-s3cret")
    simulator.add_bot("acme", code="support_bot", bot_token="tok-s3cret", event_mode="webhook")
    body = entry(url=simulator.portal_url("acme"), bots=[{"code": "support_bot", "bot_token": "tok-s3cret"}])
    assert call(client, "post", "/api/v1/portals", write_token, body).status_code == 201
    simulator.remove_bot("acme", "support_bot")  # what uninstalling the app does to its bot
    with django_capture_on_commit_callbacks(execute=True):  # alerting runs after the commit, as in production
        response = call(client, "post", "/api/v1/portals/acme/uninstalled", write_token)
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["verified"] == 1
    [bot] = result["bots"]
    assert (bot["code"], bot["status"], bot["error"]) == ("support_bot", "not_found", "BOT_NOT_FOUND")
    assert Incident.objects.filter(state="open", bot__code="support_bot").count() == 1
    assert len(mail.outbox) == 1 and "support_bot" in mail.outbox[0].subject
    assert AuditLog.objects.get(action="app uninstalled").actor == "API token write-token"


def test_an_unknown_portal_is_404_everywhere(client):
    token = issue("write")
    for method, path in [
        ("get", "/api/v1/portals/nope"),
        ("patch", "/api/v1/portals/nope"),
        ("post", "/api/v1/portals/nope/check"),
        ("post", "/api/v1/portals/nope/uninstalled"),
        ("get", "/api/v1/portals/nope/bots"),
    ]:
        assert call(client, method, path, token, {}).status_code == 404, path


@pytest.mark.parametrize("method", ["post", "put", "patch"])
def test_more_bots_than_one_request_may_write_is_400_naming_the_limit(client, write_token, method):
    if method == "patch":
        make_portal("acme", n_bots=1)
    body = entry()
    body["bots"] = [{"code": f"bot_{n}", "bot_token": f"tok-{n}"} for n in range(1001)]
    path = "/api/v1/portals" if method == "post" else "/api/v1/portals/acme"
    response = call(client, method, path, write_token, body if method != "patch" else {"bots": body["bots"]})
    assert response.status_code == 400
    assert response.json() == {
        "bots": [
            "at most 1,000 bots in one request (1,001 given): send the others in further requests "
            "(PATCH adds and updates the bots it names), or import a portal file"
        ]
    }
    assert not Bot.objects.filter(code__startswith="bot_1").exists()

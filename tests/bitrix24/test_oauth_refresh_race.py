"""Two worker PROCESSES sharing one PostgreSQL: one token refresh, one shared pacing bucket."""
# ruff: noqa: F811 - the fixtures imported from tests.bitrix24.helpers are parameters here

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checks.models import Portal
from tests.bitrix24.helpers import fast, oauth_bot, oauth_portal, sim, webhook_bot  # noqa: F401 - fixtures
from tests.fixtures.celery_worker import database_url

pytestmark = [pytest.mark.usefixtures("transactional_db", "fast")]

ROOT = Path(__file__).resolve().parents[2]

# A worker in miniature: load the portal and its bots, say ready, wait for "go", verify.
WORKER = """
import json, pathlib, sys, time
import django
django.setup()
from checks.bitrix24.client import verify_bots
from checks.models import Portal
portal = Portal.objects.get(pk=int(sys.argv[1]))
bots = list(portal.bots.order_by("pk"))
barrier = pathlib.Path(sys.argv[2])
(barrier / sys.argv[3]).touch()
while not (barrier / "go").exists():
    time.sleep(0.005)
print(json.dumps([r.status for r in verify_bots(portal, bots)]))
"""


def run_workers(portal: Portal, oauth_url: str, barrier: Path, count: int = 2, timeout: float = 90) -> list[list[str]]:
    """Start `count` processes and release them together once every one has loaded Django."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url(),
        BITRIX24_OAUTH_URL=oauth_url,
        BOTWATCH_ALLOW_HTTP="1",
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(portal.pk), str(barrier), f"ready{i}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(count)
    ]
    deadline = time.monotonic() + timeout
    while len(list(barrier.glob("ready*"))) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    (barrier / "go").touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def live_pair(sim, portal_name: str) -> tuple[str, str]:
    [token] = [t for t in sim.state()["tokens"] if t["portal"] == portal_name]
    return token["access_token"], token["refresh_token"]


def test_two_processes_refresh_once_and_both_succeed(sim, tmp_path):
    # Latency keeps both first calls in flight together, so both see expired_token at once.
    portal = oauth_portal(sim, latency_ms=500)
    oauth_bot(sim, portal, "app_bot")
    sim.expire_access_tokens("oauthco")
    outputs = run_workers(portal, sim.oauth_url, tmp_path)
    assert outputs == [["ok"], ["ok"]]
    assert sim.stats("oauthco")["oauth_refreshes"] == 1
    stored = Portal.objects.get(pk=portal.pk)
    assert (stored.oauth_access_token, stored.oauth_refresh_token) == live_pair(sim, "oauthco")
    assert stored.oauth_refresh_lock_until is None
    # Both processes really called while the token was expired: two refused calls, two retries.
    assert sim.stats("oauthco")["by_http_status"] == {"200": 2, "401": 2}


def test_pacing_is_shared_between_processes(sim, tmp_path):
    # Each process alone would stay within the bucket; together they would not without sharing.
    sim.add_portal("tight", webhook_code="tight-code-0001", rate=2.0, burst=5)
    portal = Portal.objects.create(
        name="tight", url=sim.portal_url("tight"), webhook_user_id=1, webhook_code="tight-code-0001",
        batch_supported=False,
    )  # fmt: skip
    for i in range(5):
        webhook_bot(sim, portal, f"bot_{i}")
    outputs = run_workers(portal, sim.oauth_url, tmp_path)
    assert outputs == [["ok"] * 5, ["ok"] * 5]
    stats = sim.stats("tight")
    assert stats["rate_limited"] == 0
    assert stats["requests"] == 10

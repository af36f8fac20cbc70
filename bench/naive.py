"""The naive baseline of the benchmark: one Celery task and one HTTP request per bot.

Same client, same recording (row + bot state + alert hand-off) as the engine; only the
unit of work differs. Loaded into the benchmark's workers with `--include bench.naive`.
"""

from celery import shared_task

from checks.bitrix24.client import Bitrix24Client
from checks.engine.recording import record_results
from checks.engine.runs import Run
from checks.engine.verify import judge_bots
from checks.models import Bot


@shared_task(name="bench.naive.verify_bot", acks_late=True, ignore_result=True)
def verify_bot(bot_id: int) -> None:
    bot = Bot.objects.select_related("portal").get(pk=bot_id)
    client = Bitrix24Client(bot.portal)
    results = judge_bots(client, [bot], client.verify_bots([bot]))  # a single bot: one Bot.get, no batch
    run = Run(portal=bot.portal, bots=[bot], slots={bot.pk: bot.next_check_at}, token=None, manual=False)
    record_results(run, results)

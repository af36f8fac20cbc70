"""The health calls of one run (SPEC §7) that go beyond the bot's own batch entry.

A mixin of checks.bitrix24.client.Bitrix24Client: a same-run Event.get for bots first seen in
fetch mode, single health calls on portals without batch, and the second look by code when
the pinned id is gone (re-registration).
"""

from django.utils import timezone

from checks.bitrix24 import batch
from checks.bitrix24.sidecalls import SideCall, apply_side_answer, catch_up_calls, side_calls, target_id
from checks.bitrix24.transport import Answer
from checks.bitrix24.types import BotResult
from checks.models import AuthType, Bot, Portal
from checks.status import ResponseFormat, Status


class HealthCalls:
    """Needs from the client: portal, call(), get_bot()."""

    portal: Portal

    def call(self, method: str, params: dict) -> Answer | BotResult: ...
    def get_bot(self, params: dict) -> BotResult: ...

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
            return by_code  # the §7 checks then report `reregistered` (id pinned -> id now)
        if by_code.response_format == ResponseFormat.BRIEF:
            seen = by_code.fields.get("id")
            result.error_description += (
                f"; code {bot.code} now answers as id {seen} in the brief format "
                "(another application's bot, or another token)"
            )
        return result

from django.core.management.base import BaseCommand
from django.db import transaction

from checks.models import Bot, ChannelDelivery, Portal


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first key of BOTWATCH_SECRET_KEYS. "
        "Run after putting a new key in front; then the old keys can be removed."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            portals = _rewrite(Portal, Portal.ENCRYPTED_FIELDS)
            bots = _rewrite(Bot, ("bot_token",))
            deliveries = _rewrite(ChannelDelivery, ("url",))
        self.stdout.write(
            f"Re-encrypted the credentials of {portals} portal(s) and {bots} bot(s), "
            f"and {deliveries} channel delivery row(s), with the newest key."
        )


def _rewrite(model, names: tuple[str, ...]) -> int:
    count = 0
    # Reading decrypts with any key; update() encrypts with the newest (checks/crypto.py).
    for row in model.objects.select_for_update().only("pk", *names):
        model.objects.filter(pk=row.pk).update(**{name: getattr(row, name) for name in names})
        count += 1
    return count

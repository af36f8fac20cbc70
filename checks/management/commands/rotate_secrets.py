"""`manage.py rotate_secrets`: every stored credential re-encrypted with the first key."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from checks.crypto import LEGACY_PREFIX
from checks.models import Bot, ChannelDelivery, Portal


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored credential with the first key of BOTWATCH_SECRET_KEYS (HKDF scheme). "
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
        left = _legacy_count(Portal, Portal.SECRET_FIELDS) + _legacy_count(Bot, ("bot_token",))
        self.stdout.write(f"{left} value(s) left under the old key stretching (SHA-256, 'fernet:').")


def _rewrite(model, names: tuple[str, ...]) -> int:
    count = 0
    # Reading decrypts with any key and either scheme; update() encrypts with the newest key
    # under the current scheme (checks/crypto.py).
    for row in model.objects.select_for_update().only("pk", *names):
        model.objects.filter(pk=row.pk).update(**{name: getattr(row, name) for name in names})
        count += 1
    return count


def _legacy_count(model, names: tuple[str, ...]) -> int:
    # The stored text, not the field: a lookup on the field would encrypt the prefix it looks for.
    total = 0
    for name in names:
        raw = model.objects.annotate(raw=Cast(name, TextField()))
        total += raw.filter(raw__startswith=LEGACY_PREFIX).count()
    return total

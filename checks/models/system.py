"""Process heartbeats and the audit log."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Heartbeat(models.Model):
    """Self-monitoring: beat and workers touch their row; /healthz reads the ages."""

    name = models.CharField(max_length=100, primary_key=True)
    seen_at = models.DateTimeField(default=timezone.now)
    # Workers only: how many verifications this worker runs at once (its threads but the reserved ones).
    capacity = models.PositiveIntegerField(null=True, blank=True)


class AuditLog(models.Model):
    """Who changed what, in the dashboard or through commands. Never holds a secret."""

    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.CharField(max_length=150, blank=True, default="", help_text="User name or command")
    action = models.CharField(max_length=50)
    object_type = models.CharField(max_length=50, blank=True, default="")
    object_id = models.CharField(max_length=50, blank=True, default="")
    object_repr = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["-at"], name="auditlog_time")]

    @classmethod
    def record(
        cls, user, actor: str, action: str, obj=None, changes: dict | None = None, label: str = ""
    ) -> "AuditLog":
        """One entry: `changes` must never carry a secret (only "changed")."""
        return cls.objects.create(
            user=user if user is not None and user.is_authenticated else None,
            actor=actor,
            action=action,
            # _meta, not type(): request.user is a SimpleLazyObject, whose type name means nothing to a reader.
            object_type=obj._meta.model_name if obj is not None else "",
            object_id=str(obj.pk) if obj is not None and obj.pk else "",
            object_repr=(label or (str(obj) if obj is not None else ""))[:200],
            changes=changes or {},
        )

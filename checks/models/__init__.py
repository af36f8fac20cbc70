"""BotWatch's data, one module per aggregate; app label `checks`, so migrations stay as they are.

Methods on a model touch their own row only; multi-step writes live in the rooms' services
(checks.engine, checks.alerts). May import checks.crypto and checks.status only.
"""

from checks.models.answers import AnswerProbe
from checks.models.bots import Bot, verification_pointer
from checks.models.channels import Channel, ChannelDelivery
from checks.models.history import (
    BotEvent,
    CheckHour,
    CheckTally,
    DailyStat,
    Verification,
    VerificationChange,
    counters_of,
)
from checks.models.incidents import Incident, IncidentEvent, MaintenanceWindow, Notification, Subscription
from checks.models.portals import AuthType, Language, NotifyMode, Portal
from checks.models.system import AuditLog, Heartbeat
from checks.models.tokens import ApiToken
from checks.models.warnings import CredentialWarning

__all__ = [
    "AnswerProbe",
    "ApiToken",
    "AuditLog",
    "AuthType",
    "Bot",
    "BotEvent",
    "Channel",
    "ChannelDelivery",
    "CheckHour",
    "CheckTally",
    "CredentialWarning",
    "DailyStat",
    "Heartbeat",
    "Incident",
    "IncidentEvent",
    "Language",
    "MaintenanceWindow",
    "Notification",
    "NotifyMode",
    "Portal",
    "Subscription",
    "Verification",
    "VerificationChange",
    "counters_of",
    "verification_pointer",
]

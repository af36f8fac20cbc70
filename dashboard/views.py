from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from checks.models import Bot, Portal


@login_required
def overview(request):
    ctx = {
        "portals": Portal.objects.prefetch_related("bots").order_by("name"),
        "bot_count": Bot.objects.count(),
    }
    return render(request, "dashboard/overview.html", ctx)

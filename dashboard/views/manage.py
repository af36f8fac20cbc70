"""Management (admin role): portals and their bots, the portal file, the audit log, users."""

from axes.models import AccessAttempt
from axes.utils import reset as reset_lockout
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from checks.alerts.credentials import refresh_credential_warnings
from checks.engine.verify import check_bots
from checks.models import AuditLog, AuthType, Bot, Portal
from checks.net import addresses
from checks.net.deadline import Deadline
from checks.portal_file import bounded
from checks.portal_file.export import export_portal_file
from checks.portal_file.load import PortalFileError, import_portal_file
from checks.status import Status
from dashboard.bot_forms import BotFormSet
from dashboard.forms import PortalFileForm, PortalForm, RoleForm, UserCreateForm, check_new_host
from dashboard.roles import Role, require_role, role_from_groups, role_of, set_role
from dashboard.views.common import audit, get_bot

# The audit log records changes of the form's plain fields; secrets only as "changed".
TRACKED = PortalForm.Meta.fields


def _snapshot(portal: Portal) -> dict:
    return {name: getattr(portal, name) for name in TRACKED} if portal.pk else {}


def _diff(before: dict, portal: Portal, secrets: list[str]) -> dict:
    changes = {
        name: [before.get(name), getattr(portal, name)] for name in TRACKED if before.get(name) != getattr(portal, name)
    }
    for name in secrets:
        changes[name] = "changed"  # never the value
    return changes


# What Test connection says for each status: a fixed text, never what the network or the peer
# said (refused ports, TLS errors, timings and error pages would map the server's own network).
TEST_HINTS = {
    Status.OK: "",
    Status.NOT_FOUND: gettext_lazy("The portal has no such bot."),
    Status.NOT_OWNER: gettext_lazy(
        "The bot answered without its counters: its token is wrong or was rotated, "
        "or the credentials are not those of the app that owns it."
    ),
    Status.AUTH_FAILED: gettext_lazy("The portal refused the credentials."),
    Status.MISCONFIGURED: gettext_lazy(
        "BotWatch does not call the portal like this: check the address (https, a private "
        "network needs BOTWATCH_ALLOW_PRIVATE_PORTALS=1, a redirect to another host) and the credentials."
    ),
    Status.PORTAL_UNAVAILABLE: gettext_lazy("The portal does not offer REST at the moment (plan, deleted or blocked)."),
    Status.RATE_LIMITED: gettext_lazy("The portal is limiting requests: try again in a minute."),
    Status.SERVER_ERROR: gettext_lazy("The portal answered with a server error."),
    Status.UNREACHABLE: gettext_lazy(
        "No complete answer: check the address; the portal may be down, too slow, or not reachable from BotWatch."
    ),
    Status.BAD_RESPONSE: gettext_lazy("Something answered, but not as Bitrix24 does: check the address."),
    Status.ERROR: gettext_lazy("The portal answered with an error."),
}


def test_connection(form: PortalForm, formset) -> list[dict]:
    """Runs imbot.v2.Bot.get once per bot on UNSAVED copies: nothing is written.

    Within a deadline, so that a portal that never answers cannot hold the web worker: bots
    left when it passes come back with no result ("not tested").
    """
    portal = form.instance
    form.apply_secrets()
    bots = []
    for bot_form in formset.live_forms():
        bot = bot_form.instance
        bot.portal = portal
        bot_form.apply_secrets()
        bots.append(bot)
    if not bots:
        return []
    deadline = Deadline(2 * settings.BITRIX24_TIMEOUT + 5)
    results: list = check_bots(portal, bots, persist=False, deadline=deadline)
    results += [None] * (len(bots) - len(results))
    return [
        {"bot": bot, "result": result, "hint": TEST_HINTS.get(result.status, "") if result else ""}
        for bot, result in zip(bots, results, strict=True)
    ]


def _save(request: HttpRequest, form: PortalForm, formset, before: dict) -> Portal:
    with transaction.atomic():
        secrets = form.apply_secrets() + form.apply_channels()
        if "oauth_refresh_token" in secrets:
            form.instance.oauth_refresh_issued_at = timezone.now()  # credential warning at 150 days
        portal = form.save()
        formset.instance = portal
        bots = formset.save(commit=False)
        tokens = 0
        for bot_form in formset.live_forms():
            typed = bool(bot_form.apply_secrets())
            if typed and bot_form.instance not in bots:
                bots.append(bot_form.instance)
            tokens += typed
        for bot in bots:
            bot.portal = portal
            bot.save()
        for bot in formset.deleted_objects:
            bot.delete()
        changes = _diff(before, portal, secrets)
        if (move := form.move()) is not None:
            changes["moves"] = move.audit()  # accepted by this admin, or every secret given again
        if bots or formset.deleted_objects:
            changes["bots"] = {
                "saved": [b.label for b in bots],
                "deleted": [b.label for b in formset.deleted_objects],
                "tokens changed": tokens,
            }
        audit(request, "edit portal" if before else "add portal", portal, changes)
        transaction.on_commit(lambda: refresh_credential_warnings([portal.pk]))
    return portal


def _portal_form_page(request: HttpRequest, portal: Portal) -> HttpResponse:
    require_role(request, Role.ADMIN)
    before = _snapshot(portal)
    results = None
    if request.method == "POST":
        form = PortalForm(request.POST, instance=portal)
        formset = BotFormSet(request.POST, instance=portal, prefix="bots")
        valid = form.is_valid() and formset.is_valid()
        valid = valid and formset.check_tokens(form.cleaned_data["auth_type"])
        valid = valid and check_new_host(form, formset)
        testing = request.POST.get("action") == "test"
        if testing:
            for typed in (form, *formset.forms):
                typed.forget_typed_secrets()
            results = test_connection(form, formset) if valid else None
            _audit_test(request, form, portal, results)
        if testing and request.htmx:
            # The form stays in the browser with what was typed (secrets included): only the
            # outcome comes back, so no secret ever travels back into a page.
            ctx = {"results": results, "errors": None if valid else _error_list(form, formset), "form": form}
            ctx["all_ok"] = _all_ok(results)
            return render(request, "dashboard/_test_results.html", ctx)
        if valid and not testing:
            saved = _save(request, form, formset, before)
            messages.success(request, _("Portal %(name)s saved.") % {"name": saved.name})
            return redirect("dashboard:portal-detail", pk=saved.pk)
    else:
        form = PortalForm(instance=portal)
        formset = BotFormSet(instance=portal, prefix="bots")
    ctx = {
        "nav": "portals",
        "form": form,
        "formset": formset,
        "portal": portal if portal.pk else None,
        "results": results,
        "all_ok": _all_ok(results),
    }
    return render(request, "dashboard/portal_form.html", ctx)


def _audit_test(request: HttpRequest, form: PortalForm, portal: Portal, results: list[dict] | None) -> None:
    """Every test connection is recorded: it sends credentials somewhere, saved or not."""
    data = getattr(form, "cleaned_data", {})
    statuses = None if results is None else {r["bot"].label: str(r["result"].status) if r["result"] else "not tested"
                                             for r in results}  # fmt: skip
    move = form.move()
    changes = {
        "host": addresses.destination(data.get("url") or ""),
        "credentials sent to new host": results is not None and move is not None,
        "statuses": statuses,
    }
    if data.get("auth_type") == AuthType.OAUTH and data.get("oauth_broker_url"):
        changes["broker host"] = addresses.destination(data["oauth_broker_url"])
    if move is not None:
        changes["moves"] = move.audit()
    label = portal.name if portal.pk else str(form.data.get("name", ""))[:100]
    audit(request, "test connection", portal if portal.pk else None, changes, label=label)


def _all_ok(results: list[dict] | None) -> bool:
    return results is not None and all(r["result"] is not None and r["result"].ok for r in results)


def _error_list(form: PortalForm, formset) -> list[str]:
    errors = [
        f"{form.fields[name].label if name in form.fields else name}: {' '.join(msgs)}"
        for name, msgs in form.errors.items()
    ]
    for i, bot_form in enumerate(formset.forms):
        errors += [f"bot row {i + 1}, {name}: {' '.join(msgs)}" for name, msgs in bot_form.errors.items()]
    errors += list(formset.non_form_errors())
    return [e.replace("__all__: ", "") for e in errors]


@login_required
def portal_create(request: HttpRequest) -> HttpResponse:
    return _portal_form_page(request, Portal())


@login_required
def portal_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.ADMIN)
    return _portal_form_page(request, get_object_or_404(Portal, pk=pk))


@login_required
def portal_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.ADMIN)
    portal = get_object_or_404(Portal.objects.only("id", "name", "url"), pk=pk)
    if request.method == "POST":
        audit(request, "delete portal", portal, {"bots": portal.bots.count()})
        portal.delete()
        messages.success(request, _("Portal %(name)s deleted with its bots and history.") % {"name": portal.name})
        return redirect("dashboard:portal-list")
    ctx = {
        "nav": "portals",
        "object": portal,
        "kind": "portal",
        "n_bots": portal.bots.count(),
    }
    return render(request, "dashboard/confirm_delete.html", ctx)


@login_required
def bot_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.ADMIN)
    bot = get_bot(pk)
    if request.method == "POST":
        audit(request, "delete bot", bot)
        portal_id = bot.portal_id
        Bot.objects.filter(pk=bot.pk).delete()
        messages.success(
            request, _("Bot %(label)s deleted from %(name)s.") % {"label": bot.label, "name": bot.portal.name}
        )
        return redirect("dashboard:portal-detail", pk=portal_id)
    return render(request, "dashboard/confirm_delete.html", {"nav": "portals", "object": bot, "kind": "bot"})


@login_required
def portal_file(request: HttpRequest) -> HttpResponse:
    """Upload (the same importer and errors as `manage.py import_portals`) and download."""
    require_role(request, Role.ADMIN)
    ctx = {"nav": "portal-file", "form": PortalFileForm(), "problems": None}
    if request.method == "POST":
        try:
            form = ctx["form"] = PortalFileForm(request.POST, request.FILES)
        except RequestDataTooBig:
            # Pasted text beyond DATA_UPLOAD_MAX_MEMORY_SIZE: Django refuses to read the form at all.
            ctx["problems"] = ctx["problem_count"] = None
            ctx["too_big"] = _("The pasted text is too large to paste: upload it as a file (up to %(mb)s MB).") % {
                "mb": bounded.MAX_FILE_BYTES // (1024 * 1024)
            }
            return render(request, "dashboard/portal_file.html", ctx, status=400)
        if form.is_valid():
            try:
                summary = import_portal_file(
                    form.cleaned_data["content"],
                    fmt=form.cleaned_data["fmt"],
                    actor=request.user.get_username(),
                    send_credentials_to=form.cleaned_data["send_credentials_to"],
                )
            except PortalFileError as exc:
                ctx.update(problems=exc.problems, problem_count=exc.count)
            else:
                messages.success(request, _("Portal file imported: %(summary)s.") % {"summary": summary})
                return redirect("dashboard:portal-list")
    return render(request, "dashboard/portal_file.html", ctx)


@login_required
def portal_file_download(request: HttpRequest) -> HttpResponse:
    require_role(request, Role.ADMIN)
    fmt = "json" if request.GET.get("format") == "json" else "yaml"
    text = export_portal_file(with_secrets=False, fmt=fmt)
    audit(request, "export portal file", None, {"format": fmt})
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = HttpResponse(text, content_type="application/json" if fmt == "json" else "application/yaml")
    response["Content-Disposition"] = f'attachment; filename="botwatch-portals-{stamp}.{fmt}"'
    return response


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    require_role(request, Role.ADMIN)
    entries = AuditLog.objects.select_related("user").order_by("-at", "-id")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "dashboard/audit_log.html", {"nav": "audit", "page": page})


@login_required
def user_list(request: HttpRequest) -> HttpResponse:
    require_role(request, Role.ADMIN)
    users = list(get_user_model().objects.prefetch_related("groups").order_by("username"))
    locked = _locked_out_usernames()
    with_2fa = set(TOTPDevice.objects.filter(confirmed=True).values_list("user_id", flat=True))
    rows = [
        {"user": u, "role": _role_from_prefetch(u), "locked_out": u.username in locked, "two_factor": u.pk in with_2fa}
        for u in users
    ]
    form = UserCreateForm()
    if request.method == "POST":
        form = UserCreateForm(request.POST)
        if form.is_valid():
            user = form.save()
            set_role(user, Role[form.cleaned_data["role"].upper()])
            audit(request, "add user", user, {"role": form.cleaned_data["role"]})
            messages.success(
                request,
                _("User %(username)s added as %(role)s.")
                % {"username": user.username, "role": form.cleaned_data["role"]},
            )
            return redirect("dashboard:user-list")
    ctx = {"nav": "users", "rows": rows, "form": form, "role_form": RoleForm()}
    return render(request, "dashboard/user_list.html", ctx)


def _locked_out_usernames() -> set[str]:
    """Users that django-axes locks out now, from at least one address."""
    recent = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
    counts = recent.values("username").annotate(n=Max("failures_since_start"))
    return {row["username"] for row in counts if row["n"] >= settings.AXES_FAILURE_LIMIT}


@login_required
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    """Lifts the login lockout of a user, from every address (as `manage.py axes_reset_username`)."""
    require_role(request, Role.ADMIN)
    user = get_object_or_404(get_user_model(), pk=pk)
    cleared = reset_lockout(username=user.get_username())
    audit(request, "unlock login", user, {"failed logins cleared": cleared})
    messages.success(request, _("%(user)s can log in again.") % {"user": user.get_username()})
    return redirect("dashboard:user-list")


def _role_from_prefetch(user) -> str:
    if user.is_superuser:
        return "admin (superuser)"
    return role_from_groups(g.name for g in user.groups.all()).group_name


@login_required
@require_POST
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    require_role(request, Role.ADMIN)
    user = get_object_or_404(get_user_model(), pk=pk)
    form = RoleForm(request.POST)
    if form.is_valid():
        if user == request.user and form.role_value() < Role.ADMIN:
            messages.error(request, _("You cannot lower your own role; ask another admin."))
        else:
            before = role_of(user).group_name
            set_role(user, form.role_value())
            audit(request, "change role", user, {"role": [before, form.cleaned_data["role"]]})
            messages.success(
                request,
                _("%(username)s is now %(role)s.") % {"username": user.username, "role": form.cleaned_data["role"]},
            )
    return redirect("dashboard:user-list")

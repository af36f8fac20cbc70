"""Management (admin role): portals and their bots, the portal file, the audit log, users."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from checks.alerts.credentials import refresh_credential_warnings
from checks.bitrix24.client import verify_bots
from checks.models import AuditLog, Bot, Portal
from checks.portal_export import export_portal_file
from checks.portal_file import PortalFileError, import_portal_file
from dashboard.forms import BotFormSet, PortalFileForm, PortalForm, RoleForm, UserCreateForm
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


def test_connection(form: PortalForm, formset) -> list[dict]:
    """Runs imbot.v2.Bot.get once per bot on UNSAVED copies: nothing is written."""
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
    results = verify_bots(portal, bots, persist=False)
    return [{"bot": bot, "result": result} for bot, result in zip(bots, results, strict=True)]


def _save(request: HttpRequest, form: PortalForm, formset, before: dict) -> Portal:
    with transaction.atomic():
        secrets = form.apply_secrets()
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
        testing = request.POST.get("action") == "test"
        if testing and request.htmx:
            # The form stays in the browser with what was typed (secrets included): only the
            # outcome comes back, so no secret ever travels back into a page.
            results = test_connection(form, formset) if valid else None
            ctx = {"results": results, "errors": None if valid else _error_list(form, formset)}
            ctx["all_ok"] = results is not None and all(r["result"].ok for r in results)
            return render(request, "dashboard/_test_results.html", ctx)
        if valid and testing:
            results = test_connection(form, formset)
        elif valid:
            saved = _save(request, form, formset, before)
            messages.success(request, f"Portal {saved.name} saved.")
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
        "all_ok": results is not None and all(r["result"].ok for r in results),
    }
    return render(request, "dashboard/portal_form.html", ctx)


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
        messages.success(request, f"Portal {portal.name} deleted with its bots and history.")
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
        messages.success(request, f"Bot {bot.label} deleted from {bot.portal.name}.")
        return redirect("dashboard:portal-detail", pk=portal_id)
    return render(request, "dashboard/confirm_delete.html", {"nav": "portals", "object": bot, "kind": "bot"})


@login_required
def portal_file(request: HttpRequest) -> HttpResponse:
    """Upload (the same importer and errors as `manage.py import_portals`) and download."""
    require_role(request, Role.ADMIN)
    problems = None
    if request.method == "POST":
        form = PortalFileForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                summary = import_portal_file(
                    form.cleaned_data["content"], fmt=form.cleaned_data["fmt"], actor=request.user.get_username()
                )
            except PortalFileError as exc:
                problems = exc.problems
            else:
                messages.success(request, f"Portal file imported: {summary}.")
                return redirect("dashboard:portal-list")
    else:
        form = PortalFileForm()
    return render(request, "dashboard/portal_file.html", {"nav": "portal-file", "form": form, "problems": problems})


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
    rows = [{"user": u, "role": _role_from_prefetch(u)} for u in users]
    form = UserCreateForm()
    if request.method == "POST":
        form = UserCreateForm(request.POST)
        if form.is_valid():
            user = form.save()
            set_role(user, Role[form.cleaned_data["role"].upper()])
            audit(request, "add user", user, {"role": form.cleaned_data["role"]})
            messages.success(request, f"User {user.username} added as {form.cleaned_data['role']}.")
            return redirect("dashboard:user-list")
    ctx = {"nav": "users", "rows": rows, "form": form, "role_form": RoleForm()}
    return render(request, "dashboard/user_list.html", ctx)


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
            messages.error(request, "You cannot lower your own role; ask another admin.")
        else:
            before = role_of(user).group_name
            set_role(user, form.role_value())
            audit(request, "change role", user, {"role": [before, form.cleaned_data["role"]]})
            messages.success(request, f"{user.username} is now {form.cleaned_data['role']}.")
    return redirect("dashboard:user-list")

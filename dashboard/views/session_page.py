"""A session's own page (sessions/<pk>/), also served as the list's side panel (htmx).

The header, pull requests and structured output come from the database. The conversation and
attachments are read from Devin when a person opens the page (their own action, within the
action deadline); a failure is said in place of the conversation and the rest of the page
stands. Sending a message goes through the one door (`dashboard.actions`); tags are saved with
the tags endpoint and audited here (they are not a session state the door re-reads).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from dashboard import actions, audit, conversation, devin, wording
from dashboard.access import OPERATOR, operator_orgs, session_for_user
from dashboard.crypto import CredentialDecryptError
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import AuditEvent, Session
from dashboard.sessionforms import OlderMessagesForm, TagsForm

MESSAGE_MAX = 20_000  # characters a message may have (a form error beyond)


def _read_conversation(session: Session, context: dict[str, object]) -> None:
    """The newest messages and the attachments into `context`, or the reason they are not."""
    deadline = actions.deadline_in()
    try:
        client = session.org.client()
        context["window"] = conversation.newest(client, session.session_id, deadline)
        context["attachments"] = client.list_attachments(session.session_id, deadline=deadline)
    except (devin.DevinError, CredentialDecryptError) as exc:
        context["conversation_error"] = wording.describe(exc)
        _audit_failure("conversation_read", session, exc)


def _audit_failure(
    action: str,
    session: Session,
    exc: devin.DevinError | CredentialDecryptError,
    request: AuthenticatedHttpRequest | None = None,
    detail: str = "",
) -> None:
    reason = wording.action_reason(exc)
    audit.record(
        action,
        request=request,
        org=session.org,
        outcome=AuditEvent.Outcome.UNKNOWN
        if wording.sent_unanswered(exc)
        else AuditEvent.Outcome.FAILED,
        session_id=session.session_id,
        detail=": ".join(part for part in (detail, reason) if part),
    )


def _context(request: AuthenticatedHttpRequest, session: Session) -> dict[str, object]:
    related = Session.objects.filter(org_id=session.org_id).only("pk", "title", "session_id")
    parent = (
        related.filter(session_id=session.parent_session_id).first()
        if session.parent_session_id
        else None
    )
    raw = session.raw if isinstance(session.raw, dict) else {}
    return {
        "nav": "sessions",
        "s": session,
        "can_act": session.org_id in operator_orgs(request.user),
        "parent": parent,
        "children": list(related.filter(parent_session_id=session.session_id)[:50]),
        "structured_output": raw.get("structured_output"),
        "panel": bool(request.htmx) and not request.htmx.history_restore_request,
    }


@require_GET
def session_page(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = session_for_user(request, pk)
    context = _context(request, session)
    _read_conversation(session, context)
    template = "dashboard/session.html"
    if context["panel"]:
        template += "#panel"
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


def after_action(
    request: AuthenticatedHttpRequest,
    result: actions.ActionResult,
    action: str,
    problem: wording.ActionProblem | None,
) -> HttpResponse:
    """The panel's header after archive, unarchive or terminate from it (htmx), what happened
    said and focused, with the list row behind the panel and the active counter out of band."""
    session = result.session
    context = _context(request, session)
    context.update(panel=True, oob_row=True, flash=problem is None, head_problem=problem)
    context["actable_orgs"] = frozenset({session.org_id})
    if problem is None:
        done = f"{action.capitalize()}d “{session}”."
        context["done"] = f"{done} {result.note}" if result.note else done
    return render(request, "dashboard/session.html#head", context)


@require_GET
def session_messages(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Older messages (`starts`, `before` from the "older" link), or the newest without them:
    for htmx the fragment, else the whole page showing them (the link works without JS)."""
    session = session_for_user(request, pk)
    form = OlderMessagesForm(request.GET)
    asked = "starts" in request.GET or "before" in request.GET
    if not asked and not request.htmx:
        return redirect("session_page", pk=session.pk)
    if asked and not form.is_valid():
        return HttpResponseBadRequest("That link to older messages is not one this page makes.")
    context = _context(request, session)
    context["older"] = asked
    try:
        client = session.org.client()
        deadline = actions.deadline_in()
        if asked:
            starts, before = form.cleaned_data["starts"], form.cleaned_data["before"]
            window = conversation.older(client, session.session_id, starts, before, deadline)
        else:
            window = conversation.newest(client, session.session_id, deadline)
        context["window"] = window
    except (devin.DevinError, CredentialDecryptError) as exc:
        context["conversation_error"] = wording.describe(exc)
        _audit_failure("conversation_read", session, exc, request)
    except ValueError:
        context["conversation_error"] = "That link to older messages could not be read."
    if not request.htmx:
        response = render(request, "dashboard/session.html", context)
    else:
        fragment = "older" if asked else "conversation"
        response = render(request, f"dashboard/session.html#{fragment}", context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_POST
def session_send(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = session_for_user(request, pk, OPERATOR)
    text = request.POST.get("text", "").replace("\x00", "")  # PostgreSQL cannot store NUL
    problem = ""
    if not text.strip():
        problem = "Write a message first."
    elif len(text) > MESSAGE_MAX:
        problem = f"A message can have at most {MESSAGE_MAX:,} characters, not {len(text):,}."
    else:
        result = actions.perform(
            session, "message", actor=request.user, ip=audit.client_ip(request), text=text
        )
        if result.error is not None:
            p = wording.action_problem("send", result.error)
            headline = "not confirmed" if wording.sent_unanswered(result.error) else "not sent"
            problem = f"Message {headline}. {p.reason} {p.note}".strip()
        session = result.session
    if not request.htmx:
        if problem:
            messages.error(request, problem)
        else:
            messages.success(request, "Message sent.")
        return redirect("session_page", pk=session.pk)
    context = _context(request, session)
    _read_conversation(session, context)
    context["send_problem"] = problem
    context["draft"] = text if problem else ""
    return render(request, "dashboard/session.html#conversation", context)


@require_POST
def session_tags(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Add tags (`tags`, comma-separated) or remove one (`remove`, one of those `seen`)."""
    session = session_for_user(request, pk, OPERATOR)
    form = TagsForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("That tags form is not one this page makes.")
    remove, added = form.cleaned_data["remove"], form.added
    problem = ""
    if not remove and not added:
        problem = "Type a tag to add."
    elif len(added) > devin.conversation.TAGS_MAX:
        problem = f"At most {devin.conversation.TAGS_MAX} tags at a time."
    else:
        problem = _save_tags(request, session, added, remove, form.cleaned_data["seen"])
    if not request.htmx:
        if problem:
            messages.error(request, problem)
        return redirect("session_page", pk=session.pk)
    context = _context(request, session)
    context.update(tags_problem=problem, tags_focus=True)  # the button pressed is gone
    context["oob_row"] = request.POST.get("panel") == "1"
    context["actable_orgs"] = frozenset({session.org_id})
    return render(request, "dashboard/session.html#tags", context)


TAGS_CHANGED = (
    "Tags changed since you loaded the page: nothing was removed. These are its tags now; "
    "remove the tag again if you still mean to."
)


def _save_tags(
    request: AuthenticatedHttpRequest,
    session: Session,
    added: list[str],
    remove: str,
    seen: list[str],
) -> str:
    """Save at Devin, store what it answers, audit. Returns the problem, or ""."""
    detail = f"removed {remove[:100]!r}" if remove else f"added {', '.join(added)[:200]}"
    try:
        client = session.org.client()
        deadline = actions.deadline_in()
        if remove:
            # Devin replaces tags whole and has no conditional update. Read them right before
            # replacing, and replace only if they are what the person saw: a change made
            # elsewhere meanwhile is shown to them rather than overwritten. What is left is a
            # change landing between these two calls, one round trip apart.
            now = client.get_tags(session.session_id, deadline=deadline)
            if set(now) - {remove} != set(seen) - {remove}:
                _store_tags(session, now)
                audit.record(
                    "tags_changed",
                    request=request,
                    org=session.org,
                    outcome=AuditEvent.Outcome.FAILED,
                    session_id=session.session_id,
                    detail=f"{detail}: refused, the tags had changed since the page was loaded",
                )
                return TAGS_CHANGED
            tags = now
            if remove in now:
                kept = [t for t in now if t != remove]
                tags = client.replace_tags(session.session_id, kept, deadline=deadline)
        else:
            tags = client.append_tags(session.session_id, added, deadline=deadline)
    except (devin.DevinError, CredentialDecryptError) as exc:
        _audit_failure("tags_changed", session, exc, request, detail)
        p = wording.action_problem("save tags", exc)
        return f"Tags not saved. {p.reason} {p.note}".strip()
    except ValueError as exc:  # more tags than one replace may carry: nothing was sent
        return f"Tags not saved: {exc}. Nothing was changed."
    _store_tags(session, tags)
    audit.record(
        "tags_changed",
        request=request,
        org=session.org,
        session_id=session.session_id,
        detail=detail,
    )
    return ""


def _store_tags(session: Session, tags: tuple[str, ...]) -> None:
    session.tags = list(tags)
    session.tags_text = "".join(f"|{t}" for t in tags) + "|" if tags else ""
    session.save(update_fields=["tags", "tags_text"])

"""A session's own page (sessions/<pk>/), also served as the list's side panel (htmx).

The header, pull requests and structured output come from the database. The conversation and
attachments are read from Devin when a person opens the page (their own action, within the
action deadline); a failure is said in place of the conversation and the rest of the page
stands. Sending a message goes through the one door (`dashboard.actions`); tags are saved with
the tags endpoint and audited here (they are not a session state the door re-reads).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from dashboard import actions, audit, conversation, devin, wording
from dashboard.access import OPERATOR, operator_orgs, session_for_user
from dashboard.crypto import CredentialDecryptError
from dashboard.http import AuthenticatedHttpRequest
from dashboard.models import AuditEvent, Session

MESSAGE_MAX = 20_000  # characters a message may have (a form error beyond)
TAG_MAX = 100  # characters a tag may have


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
    session: Session,
    action: str,
    error: actions.Failure | None,
) -> HttpResponse:
    """The panel's header after archive, unarchive or terminate from it (htmx), what happened
    said and focused, with the list row behind the panel and the active counter out of band."""
    context = _context(request, session)
    context.update(panel=True, oob_row=True, flash=error is None)
    context["actable_orgs"] = frozenset({session.org_id})
    if error is None:
        context["done"] = f"{action.capitalize()}d “{session}”."
    else:
        context["head_problem"] = wording.action_problem(action, error)
    return render(request, "dashboard/session.html#head", context)


@require_GET
def session_messages(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Older messages (`starts`, `before` from the "older" link), or the newest without them."""
    session = session_for_user(request, pk)
    starts = request.GET.getlist("starts")[: conversation.MAX_STARTS]
    before = request.GET.get("before", "")[:200]
    context = _context(request, session)
    context["older"] = bool(starts and before)
    try:
        client = session.org.client()
        deadline = actions.deadline_in()
        if starts and before:
            window = conversation.older(client, session.session_id, starts, before, deadline)
        else:
            window = conversation.newest(client, session.session_id, deadline)
        context["window"] = window
    except (devin.DevinError, CredentialDecryptError) as exc:
        context["conversation_error"] = wording.describe(exc)
        _audit_failure("conversation_read", session, exc, request)
    except ValueError:
        context["conversation_error"] = "That link to older messages could not be read."
    fragment = "older" if context["older"] else "conversation"
    return render(request, f"dashboard/session.html#{fragment}", context)


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


def _tags_from(value: str) -> list[str]:
    return [t.strip()[:TAG_MAX] for t in value.replace("\x00", "").split(",") if t.strip()]


@require_POST
def session_tags(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Add tags (`tags`, comma-separated) or remove one (`remove`)."""
    session = session_for_user(request, pk, OPERATOR)
    remove = request.POST.get("remove", "").strip()
    added = _tags_from(request.POST.get("tags", ""))
    problem = ""
    if not remove and not added:
        problem = "Type a tag to add."
    elif len(added) > devin.conversation.TAGS_MAX:
        problem = f"At most {devin.conversation.TAGS_MAX} tags at a time."
    else:
        problem = _save_tags(request, session, added, remove)
    if not request.htmx:
        if problem:
            messages.error(request, problem)
        return redirect("session_page", pk=session.pk)
    context = _context(request, session)
    context["tags_problem"] = problem
    context["oob_row"] = request.POST.get("panel") == "1"
    context["actable_orgs"] = frozenset({session.org_id})
    return render(request, "dashboard/session.html#tags", context)


def _save_tags(
    request: AuthenticatedHttpRequest, session: Session, added: list[str], remove: str
) -> str:
    """Save at Devin, store what it answers, audit. Returns the problem, or ""."""
    detail = f"removed {remove[:100]!r}" if remove else f"added {', '.join(added)[:200]}"
    try:
        client = session.org.client()
        deadline = actions.deadline_in()
        if remove:
            # Replace with what Devin has now minus the one: the stored copy may be stale.
            now = client.get_tags(session.session_id, deadline=deadline)
            tags = client.replace_tags(
                session.session_id, [t for t in now if t != remove], deadline=deadline
            )
        else:
            tags = client.append_tags(session.session_id, added, deadline=deadline)
    except (devin.DevinError, CredentialDecryptError) as exc:
        _audit_failure("tags_changed", session, exc, request, detail)
        p = wording.action_problem("save tags", exc)
        return f"Tags not saved. {p.reason} {p.note}".strip()
    session.tags = list(tags)
    session.tags_text = "".join(f"|{t}" for t in tags) + "|" if tags else ""
    session.save(update_fields=["tags", "tags_text"])
    audit.record(
        "tags_changed",
        request=request,
        org=session.org,
        session_id=session.session_id,
        detail=detail,
    )
    return ""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection, transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

import dashboard
from dashboard import audit
from dashboard.forms import FirstAdminForm
from dashboard.proxyauth import signed_in_by_proxy

User = get_user_model()


class LoginView(auth_views.LoginView):
    """Django's sign-in. Throttling is in the authentication backends (dashboard/signin.py), so
    it holds for every form that signs in, and its 429 page comes from django-axes' middleware."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
        if not User.objects.exists():
            return redirect("setup")
        return super().dispatch(request, *args, **kwargs)


class LogoutView(auth_views.LogoutView):
    """Sign-out; a session that the sign-in proxy opened ends at the proxy too, when it has a
    sign-out URL (else its next request would sign the person straight back in)."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        via_proxy = signed_in_by_proxy(request)
        response = super().post(request, *args, **kwargs)
        if via_proxy and settings.AUTH_LOGOUT_URL:
            return HttpResponseRedirect(settings.AUTH_LOGOUT_URL)
        return response


login_view = login_not_required(LoginView.as_view())
logout_view = LogoutView.as_view()


@login_not_required
@never_cache
@sensitive_post_parameters("password1", "password2")
def setup(request: HttpRequest) -> HttpResponse:
    """First run: create the first admin. Gone (404) as soon as any user exists."""
    if User.objects.exists():
        raise Http404("The dashboard is already set up.")
    form = FirstAdminForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if User.objects.select_for_update().exists():
                raise Http404("The dashboard is already set up.")
            user = form.save()
        audit.record("user_created", request=request, actor=user, detail="first admin (first run)")
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.get_username()}. Add your first organization.")
        return redirect("org_add")
    return render(request, "dashboard/setup.html", {"form": form})


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers. Reveals nothing sensitive."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse(
        {"status": "ok", "database": "ok", "version": dashboard.__version__},
        headers={"Cache-Control": "no-store"} if settings.DEBUG else None,
    )

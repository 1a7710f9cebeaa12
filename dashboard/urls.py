from __future__ import annotations

from django.contrib import admin
from django.urls import path

from dashboard.views import account, audit, auth, bulk, insight, orgs, session_page, sessions, team

urlpatterns = [
    path("", sessions.sessions, name="sessions"),
    path("sessions/<int:pk>/archive/", sessions.session_archive, name="session_archive"),
    path("sessions/<int:pk>/unarchive/", sessions.session_unarchive, name="session_unarchive"),
    path("sessions/<int:pk>/", session_page.session_page, name="session_page"),
    path("sessions/<int:pk>/messages/", session_page.session_messages, name="session_messages"),
    path("sessions/<int:pk>/messages/send/", session_page.session_send, name="session_send"),
    path("sessions/<int:pk>/tags/", session_page.session_tags, name="session_tags"),
    path("sessions/<int:pk>/terminate/", sessions.session_terminate, name="session_terminate"),
    path("sessions/<int:pk>/row/", sessions.session_row, name="session_row"),
    path("sessions/track/", sessions.session_track, name="session_track"),
    path("sessions/live/", sessions.sessions_live, name="sessions_live"),
    path("sessions/bulk-archive/", bulk.bulk_archive, name="bulk_archive"),
    path("sessions/bulk-terminate/", bulk.bulk_terminate, name="bulk_terminate"),
    path("bulk/<int:pk>/", bulk.bulk_run, name="bulk_run"),
    path("insight/", insight.insight_index, name="insight_index"),
    path("insight/<int:pk>/", insight.insight, name="insight"),
    path("orgs/", orgs.orgs, name="orgs"),
    path("orgs/add/", orgs.org_add, name="org_add"),
    path("orgs/<int:pk>/edit/", orgs.org_edit, name="org_edit"),
    path("orgs/<int:pk>/delete/", orgs.org_delete, name="org_delete"),
    path("orgs/<int:pk>/test/", orgs.org_test, name="org_test"),
    path("orgs/<int:pk>/sync/", orgs.org_sync, name="org_sync"),
    path("orgs/<int:pk>/sync/status/", orgs.org_sync_status, name="org_sync_status"),
    path("team/", team.team, name="team"),
    path("team/add/", team.team_add, name="team_add"),
    path("team/<int:pk>/", team.team_user, name="team_user"),
    path("team/<int:pk>/deactivate/", team.team_user_deactivate, name="team_user_deactivate"),
    path("team/<int:pk>/reactivate/", team.team_user_reactivate, name="team_user_reactivate"),
    path("team/<int:pk>/password/", team.team_user_password, name="team_user_password"),
    path("team/unlock/", team.team_unlock, name="team_unlock"),
    path("audit/", audit.audit, name="audit"),
    path("audit/export.csv", audit.audit_csv, name="audit_csv"),
    path("account/", account.account, name="account"),
    path("account/password/", account.password_change, name="password_change"),
    path("account/sign-out-everywhere/", account.sign_out_everywhere, name="sign_out_everywhere"),
    # A reset link's token travels in the query string, never in a path (paths are logged).
    path("account/reset/", account.reset_link, name="password_reset_link"),
    path(
        "account/reset/<uidb64>/set-password/",
        account.reset_confirm,
        {"token": "set-password"},
        name="password_reset_confirm",
    ),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("setup/", auth.setup, name="setup"),
    path("healthz", auth.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

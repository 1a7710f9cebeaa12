"""Views, one module per group of URLs: sessions (the page, its rows, tracking, live refresh),
bulk (bulk archive and its runs), insight, orgs (organizations and Sync now), team (with password
resets and locked sign-ins), audit, account (your account, your password, reset links), auth
(sign-in, sign-out, first run, health).

Access checks live in dashboard.access and every view goes through them.
"""

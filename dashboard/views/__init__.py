"""Views, one module per group of URLs: sessions (the page, its rows, tracking, live refresh),
bulk (bulk archive and its runs), insight, orgs (organizations and Sync now), team, audit
(with locked sign-ins), auth (sign-in, first run, health).

Access checks live in dashboard.access and every view goes through them.
"""

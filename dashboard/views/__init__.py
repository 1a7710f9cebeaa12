"""Views, one module per concern: auth (sign-in, first run, health), sessions, orgs, team, audit.

Access checks live in dashboard.access and every view goes through them.
"""

"""Figure 10: the first render of a session's own page, for the 2,000-message conversation.

Opening the page reads the conversation from Devin (the fake, on loopback) to show its newest
50 messages: the walk over every page of it is in the figure, as it is in what a person waits
for. Timed over HTTP against the benchmark's gunicorn, so it is the server's time plus loopback.
"""

from __future__ import annotations

import statistics

from bench.harness import Figure, Harness, median_ms
from dashboard import sync
from dashboard.models import Session

GOAL_MS = 150


def session_page_render(h: Harness) -> None:
    h.step("the session page: first render of the 2,000-message conversation")
    session_id = h.fake.featured[h.org.org_id]["long"]
    remote = h.fake.get(h.org.org_id, session_id)
    assert remote is not None
    if not Session.objects.filter(org=h.org, session_id=session_id).exists():
        sync.store_sessions(h.org, [h.org.client().get_session(session_id)])
    pk = Session.objects.get(org=h.org, session_id=session_id).pk
    url = f"/sessions/{pk}/"
    cold, _ = h.fetch(url)
    html = h.http.get(url).text
    shown = html.count('<li class="message ')
    if shown != 50 or "Load older messages" not in html:
        raise RuntimeError(f"{url} showed {shown} messages, not the newest 50 and a link")
    samples: list[float] = []
    wire = 0
    for _ in range(h.plan.page_reps):
        seconds, wire = h.fetch(url)
        samples.append(seconds)
    median = median_ms(samples)
    h.add(
        Figure(
            "10.session_page",
            "Session page, first render (2,000 messages, newest 50)",
            median,
            "ms",
            f"≤ {GOAL_MS} ms",
            median <= GOAL_MS,
            note=f"walks the conversation over loopback each time; first (cold) "
            f"{cold * 1000:.1f} ms; p90 {statistics.quantiles(samples, n=10)[-1] * 1000:.1f} ms; "
            f"{wire / 1000:.1f} kB on the wire",
            samples=len(samples),
        )
    )

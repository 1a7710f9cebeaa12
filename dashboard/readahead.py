"""Reading a slow iterator ahead of its consumer: the sync's listing pages while it stores.

A full sync spends ~20% of its time waiting for a page and parsing it, and ~30% in the
database's own code (SQLite's inserts, PostgreSQL's round trips), which runs without the GIL.
One helper thread that fetches the next pages while the walk stores the last ones overlaps the
two (docs/performance.md, issue 19's third round). It only runs inside a sync task (a worker
process, or the command line), never in a web worker; it touches no database connection.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Generator, Iterator

# How long the helper waits on a full buffer before it checks whether the consumer left.
_POLL_SECONDS = 0.1


class _End:
    """What the helper puts after the last item."""


def ahead[T](items: Iterator[T], depth: int) -> Generator[T, None, None]:
    """Yield what `items` yields, in order, read up to `depth` items ahead by a helper thread.

    An exception from `items` is raised here, where the consumer would have met it, after the
    items before it. When the consumer stops early (an exception, `close()`), the helper stops
    after the item it is reading. The helper runs in a copy of the caller's context, so its log
    lines carry the same request id.
    """
    buffer: queue.Queue[T | _End | BaseException] = queue.Queue(maxsize=depth)
    left = threading.Event()

    def put(value: T | _End | BaseException) -> bool:
        while not left.is_set():
            try:
                buffer.put(value, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def fill() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        else:
            put(_End())

    context = contextvars.copy_context()
    helper = threading.Thread(target=context.run, args=(fill,), name="readahead", daemon=True)
    helper.start()
    try:
        while True:
            value = buffer.get()
            if isinstance(value, _End):
                return
            if isinstance(value, BaseException):
                raise value
            yield value
    finally:
        left.set()

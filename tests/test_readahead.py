from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dashboard import readahead


def _helpers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "readahead"]


def _wait_for_no_helper() -> None:
    deadline = time.monotonic() + 5
    while _helpers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _helpers()


def test_items_come_in_order_and_the_helper_ends() -> None:
    assert list(readahead.ahead(iter(range(50)), 3)) == list(range(50))
    _wait_for_no_helper()


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("page 3 could not be read")

    got: list[int] = []
    with pytest.raises(ValueError, match="page 3"):
        for item in readahead.ahead(failing(), 5):
            got.append(item)
    assert got == [1, 2]
    _wait_for_no_helper()


def test_a_consumer_that_stops_early_stops_the_helper() -> None:
    read: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            read.append(n)
            yield n
            n += 1

    pages = readahead.ahead(endless(), 2)
    assert next(pages) == 0
    pages.close()
    _wait_for_no_helper()
    # The helper read at most what fits in its buffer, plus the one it was holding.
    assert len(read) <= 4

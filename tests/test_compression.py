"""Pages are gzipped at a fast level, with Django's random padding against BREACH kept."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from django.test import Client

from dashboard import compression

pytestmark = pytest.mark.django_db


def test_a_page_is_gzipped_when_asked_and_plain_otherwise(client: Client, admin: Any) -> None:
    client.force_login(admin)
    zipped = client.get("/", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    plain = client.get("/")
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"] and "Accept-Encoding" in plain["Vary"]
    assert not plain.has_header("Content-Encoding")
    html = gzip.decompress(zipped.content).decode()
    assert int(zipped["Content-Length"]) == len(zipped.content) < len(html)
    # The same page but for its per-request tokens (CSRF, CSP nonce, live-poll time).
    assert "<title>Sessions · Devin dashboard</title>" in html
    assert html.count("\n") == plain.content.decode().count("\n")


def test_short_answers_are_left_alone(client: Client) -> None:
    response = client.get("/healthz", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert not response.has_header("Content-Encoding")


def test_the_stream_is_padded_with_a_random_file_name() -> None:
    content = b"<tr><td>a row of a page</td></tr>\n" * 500
    streams = [compression.compress(content, 100) for _ in range(40)]
    assert all(gzip.decompress(s) == content for s in streams)
    assert all(s[3] & gzip.FNAME for s in streams)
    # 0-99 bytes of name: 40 draws that all came out the same length would be a broken pad.
    assert len({len(s) for s in streams}) > 1
    unpadded = gzip.compress(content, compresslevel=compression.LEVEL, mtime=0)
    assert min(len(s) for s in streams) >= len(unpadded) + 1
    assert max(len(s) for s in streams) <= len(unpadded) + 100


def test_no_padding_when_it_is_turned_off() -> None:
    content = b"<p>text</p>" * 100
    assert compression.compress(content, 0) == gzip.compress(content, compression.LEVEL, mtime=0)

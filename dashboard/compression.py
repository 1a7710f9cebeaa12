"""Gzip for pages at zlib's fast level, with Django's padding against BREACH kept.

Django's GZipMiddleware compresses at level 6: 2.2 ms of CPU for the 120 kB sessions page of a
viewer (11.4 kB), a twentieth of the whole request. Level 3 takes 0.6 ms for 13.5 kB: the deflate
levels up to 3 skip the lazy matching that costs the rest (measured in-process; docs/performance.md,
issue 19's third round). Streaming responses keep Django's own path.
"""

from __future__ import annotations

import gzip
import secrets

from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware as DjangoGZipMiddleware
from django.middleware.gzip import re_accepts_gzip
from django.utils.cache import patch_vary_headers

LEVEL = 3


def compress(content: bytes, max_random_bytes: int) -> bytes:
    """django.utils.text.compress_string at LEVEL: a gzip stream whose header carries a file name
    of 0 to max_random_bytes - 1 random bytes, so that its length says less about its content."""
    compressed = gzip.compress(content, compresslevel=LEVEL, mtime=0)
    if not max_random_bytes:  # padding off, as Django allows
        return compressed
    header = bytearray(compressed[:10])
    header[3] = gzip.FNAME
    name = b"a" * secrets.randbelow(max_random_bytes) + b"\x00"
    return bytes(header) + name + compressed[10:]


class GZipMiddleware(DjangoGZipMiddleware):
    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if response.streaming:
            return super().process_response(request, response)
        # As Django's, but for the level.
        content = response.content  # type: ignore[attr-defined]
        if len(content) < 200 or response.has_header("Content-Encoding"):
            return response
        patch_vary_headers(response, ("Accept-Encoding",))
        if not re_accepts_gzip.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            return response
        compressed = compress(content, self.max_random_bytes)
        if len(compressed) >= len(content):
            return response
        response.content = compressed  # type: ignore[attr-defined]
        response.headers["Content-Length"] = str(len(compressed))
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag
        response.headers["Content-Encoding"] = "gzip"
        return response

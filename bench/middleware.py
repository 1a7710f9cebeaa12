"""Counts a request's SQL queries when the benchmark asks (X-Bench-Queries), in the server that
answers it: each size's database is served by its own gunicorn, out of the benchmark's reach.
Untimed requests only: the timed ones go through untouched."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponseBase


class CountQueries:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if "X-Bench-Queries" not in request.headers:
            return self.get_response(request)
        count = 0

        def counted(
            execute: Callable[..., object], sql: str, params: object, many: bool, context: object
        ) -> object:
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            response = self.get_response(request)
        response["X-Bench-Queries"] = str(count)
        return response

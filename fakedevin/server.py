"""The HTTP side of the fake Devin API, and ``FakeDevin``, its in-process handle.

Standard library only: ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (every
response has a Content-Length), one daemon thread per connection. Each request goes to
``routes.respond``; see the package docstring for the endpoints.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any

from .routes import Request, Response, respond
from .state import FakeState

# What socketserver hands to a server's hooks: a TCP server only ever gets the socket.
_Connection = socket.socket | tuple[bytes, socket.socket]


class FakeDevin(FakeState):
    """A fake Devin API v3 server with deterministic data; see the package docstring."""

    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> FakeDevin:
        """Serve in a background daemon thread; ``port=0`` picks a free port.

        Calling it on a running fake does nothing, so ``with FakeDevin() as fake:
        fake.start()`` is fine.
        """
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(host, port, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name=f"fakedevin:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: interrupts latency and hangs, closes kept-alive connections."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()  # joins the connection threads, now all unblocked
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeDevin is not running; call start() first")
        host = str(self._server.server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._server.server_port}"

    def __enter__(self) -> FakeDevin:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, fake: FakeState) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall for
        # seconds on a badly configured machine; a loopback test server does not need it.
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: _Connection, client_address: object) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Connection) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every connection thread (idle keep-alive ones block in a read)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by its thread
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: _Connection, client_address: object) -> None:
        # Clients vanishing mid-request (timeouts, drop tests) are normal here.
        if isinstance(sys.exc_info()[1], OSError) and not self.fake.verbose:
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeDevin/1.0"
    sys_version = ""
    # Headers and body are written separately; without TCP_NODELAY, Nagle plus delayed ACKs
    # add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            super().log_message(format, *args)

    def _dispatch(self) -> None:
        request = Request(
            self.command, self.path, self.headers.get("Authorization"), self._read_body()
        )
        response = respond(self.server.fake, request)
        if response is None:
            self.close_connection = True  # drop/hang: no response at all
            return
        self._send(response)

    def _read_body(self) -> bytes:
        # Always drain the body so the next request on a kept-alive connection parses.
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            self.close_connection = True  # client gone (e.g. it timed out)

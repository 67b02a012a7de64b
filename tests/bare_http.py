"""A bare local HTTP server for tests that need one besides the mock: each connection on its
own thread, and every thread ended when the server closes.

A handler still running after its test (say, one sleeping past the client's timeout) would
otherwise write into a closed connection during a later test and print a traceback there,
which fills ``linecache`` with thousands of strings and breaks that test's memory count.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


class BareHTTPServer(ThreadingHTTPServer):
    """Closing it hangs up every open connection and joins every connection's thread; a
    client that hung up first is not an error."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        # A keep-alive connection's thread waits for the next request until the client hangs
        # up: hang up for it, so the join below returns.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


Server = TypeVar("Server", bound=BareHTTPServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Serve on a background thread until the block ends, then close (see `BareHTTPServer`)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def url(server: BareHTTPServer) -> str:
    """The server's ``http://host:port``."""
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"

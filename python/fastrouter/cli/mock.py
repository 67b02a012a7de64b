"""``fastrouter mock``: run the embedded mock OpenRouter server in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from ..testing import MockServer

__all__ = ["add_mock_command"]


def _run(args: argparse.Namespace) -> int:
    server = MockServer(host=args.host, port=args.port, api_key=args.api_key, tls=args.tls)
    try:
        server.start()
        print(f"fastrouter mock OpenRouter server on {server.base_url} (Ctrl-C to stop)", flush=True)
        if server.ca_path is not None:
            print(f"its CA certificate: {server.ca_path} (pass ca_bundle= or set SSL_CERT_FILE)", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how this command is meant to end, whenever it arrives
    finally:
        server.stop()
    return 0


def add_mock_command(commands: Any) -> None:
    """Register ``mock`` on the ``fastrouter`` command's subparsers."""
    mock = commands.add_parser("mock", help="run the embedded mock OpenRouter server")
    mock.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    mock.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    mock.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    mock.add_argument(
        "--tls", action="store_true", help="serve HTTPS (h2 and http/1.1) with a certificate generated at start"
    )
    mock.set_defaults(run=_run)

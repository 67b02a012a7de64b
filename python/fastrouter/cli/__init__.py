"""The ``fastrouter`` command line: one entry point, :func:`main`, over one module per command."""

from __future__ import annotations

import argparse
import sys

from .. import __version__

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastrouter`` console script."""
    # The command modules are imported here, not at the top, so that
    # ``python -m fastrouter.cli.route`` runs its module once, as __main__.
    from ._common import run_command
    from .cascade import add_cascade_commands
    from .chat import add_chat_command
    from .credits import add_credits_command
    from .demo import add_demo_command
    from .key import add_key_command
    from .mock import add_mock_command
    from .models import add_models_commands
    from .route import add_route_commands
    from .usage import add_usage_command

    parser = argparse.ArgumentParser(prog="fastrouter", description="Fast, dependable OpenRouter client.")
    parser.add_argument("--version", action="version", version=f"fastrouter {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    add_demo_command(commands)
    add_chat_command(commands)
    add_credits_command(commands)
    add_key_command(commands)
    add_mock_command(commands)
    add_usage_command(commands)
    add_models_commands(commands)
    add_route_commands(commands)
    add_cascade_commands(commands)

    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Ids for what a process holds on a store (a limit's slot, a budget's reservation): unique
across every process and host sharing the store, a forked child's included (it takes a
prefix of its own, or it would repeat its parent's ids)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

__all__ = ["new_id"]

_ids: Iterator[str]


def _start() -> None:
    global _ids
    prefix = f"{os.getpid():x}.{os.urandom(8).hex()}."  # containers often share a pid
    _ids = map(f"{prefix}{{}}".format, itertools.count(1))  # `next` on it is one C call


_start()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_start)


def new_id() -> str:
    """A new id, never given before by any process."""
    return next(_ids)

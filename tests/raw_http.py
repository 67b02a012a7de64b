"""Reading requests by hand, for tests that serve raw HTTP/1.1 from a plain socket."""

from __future__ import annotations


def content_length(head: bytes) -> int:
    """The ``Content-Length`` of a request head (the bytes before ``\\r\\n\\r\\n``); 0 without one."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0

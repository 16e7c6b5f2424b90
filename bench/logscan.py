"""Read a server's log for signs that something broke or leaked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Scan", "scan"]

# Lines that mean trouble on their own.
_TROUBLE = re.compile(
    r"Unclosed client session|Unclosed connector|Task was destroyed"
    r"|Exception in ASGI application|Internal Server Error"
)
# Tracebacks whose cause is known and harmless, by what they mean.
_KNOWN = {
    # uvloop logs this when a TLS connection is closed under a request that was
    # cancelled mid-flight: here, when wrk stops and Django cancels its views.
    "uvloop wrote to a closed TLS transport after a cancelled request": re.compile(
        r"RuntimeError: unable to perform operation on <TCPTransport closed=True"
    ),
}
# What sessionhub logs when a worker's lifespan ends with its one session closed.
ONE_SESSION_CLOSED = re.compile(r"lifespan finished: closed 1 client\(s\)")


@dataclass
class Scan:
    """What a log says."""

    trouble: list[str] = field(default_factory=list)
    known: dict[str, int] = field(default_factory=dict)


def scan(text: str) -> Scan:
    """Sort a log's tracebacks (by their last line) and alarming lines into trouble or known."""
    result = Scan()
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if _TROUBLE.search(line):
            result.trouble.append(line)
        if line.startswith("Traceback"):
            cause = _exception_line(lines, index + 1)
            for meaning, pattern in _KNOWN.items():
                if pattern.search(cause):
                    result.known[meaning] = result.known.get(meaning, 0) + 1
                    break
            else:
                result.trouble.append(cause)
    return result


def _exception_line(lines: list[str], start: int) -> str:
    """The first line after a traceback's frames: the exception it ended with."""
    for line in lines[start:]:
        if line and not line.startswith((" ", "\t")):
            return line
    return "(a traceback with no exception line)"

"""How much ``sessionhub.get()`` costs on a warm loop, next to the alternatives.

Run by the benchmark as ``python -m bench.microbench``; prints JSON. Every case
is timed with ``timeit`` inside a coroutine on a running uvloop loop (as in a
view), best of several repeats, minus the cost of timeit's empty loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import timeit
from typing import Any

import aiohttp
from django.conf import settings

import sessionhub
from bench import loops

__all__ = ["CASES", "main"]

# name -> statement. The first three are the comparison the issue asks for;
# the others take the first ones apart.
CASES = {
    "sessionhub.get()": "sessionhub.get()",
    "module global": "session",
    "dict keyed by running loop": "sessions[asyncio.get_running_loop()]",
    "asyncio.get_running_loop()": "asyncio.get_running_loop()",
    "function: dict keyed by running loop": "by_loop()",
    "function: return a module global": "module_global()",
    "empty function call": "noop()",
}


def main() -> None:
    """Time every case and print ``{"ns_per_call": {name: ns}, ...}``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=1_000_000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    # sessionhub reads its settings when it builds the session: the defaults.
    settings.configure()
    result = loops.run(lambda: _measure(args.number, args.repeat))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


async def _measure(number: int, repeat: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    session: aiohttp.ClientSession = sessionhub.get()  # warm: it exists from here on
    sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {loop: session}

    def by_loop() -> aiohttp.ClientSession:
        return sessions[asyncio.get_running_loop()]

    def module_global() -> aiohttp.ClientSession:
        return session

    def noop() -> None:
        return None

    namespace = {
        "asyncio": asyncio,
        "sessionhub": sessionhub,
        "session": session,
        "sessions": sessions,
        "by_loop": by_loop,
        "module_global": module_global,
        "noop": noop,
    }

    def best(statement: str) -> float:
        timer = timeit.Timer(statement, globals=namespace)
        return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9

    empty = best("pass")
    ns = {name: max(0.0, best(statement) - empty) for name, statement in CASES.items()}
    # The comparison is meaningless unless get() really returned the loop's session.
    assert sessionhub.get() is session
    return {
        "ns_per_call": ns,
        "statements": CASES,
        "empty_loop_ns": empty,
        "number": number,
        "repeat": repeat,
        "loop": f"{type(loop).__module__}.{type(loop).__name__}",
    }


if __name__ == "__main__":
    main()

"""Where one variant's server spends its time under load, sampled with py-spy.

``python -m bench.profile sessionhub --scheme https`` starts the upstream and
that variant's server as the benchmark does, loads it with wrk, attaches
py-spy to the server and prints the functions that took the largest share of
the samples, with and without their callees. The collapsed stacks are kept
(for speedscope or flamegraph.pl) in bench/results/tmp/.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import sessionhub
from bench import services, wrk
from bench.certs import generate
from bench.processes import ROOT, Cores
from bench.variants import LOCAL

__all__ = ["main", "summarize"]

_SCRATCH = ROOT / "bench" / "results" / "tmp"


def main() -> None:
    """Profile one variant; print the summary."""
    variants = {variant.key: variant for variant in LOCAL}
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("variant", choices=sorted(variants))
    parser.add_argument("--scheme", choices=("http", "https"), default="https")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--top", type=int, default=25, help="functions to list")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample threads waiting for the GIL too (by default only the GIL holder's "
        "stacks count: that is where the server's one core goes)",
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    cores = Cores.detect()
    _SCRATCH.mkdir(parents=True, exist_ok=True)
    variant = variants[args.variant]
    output = _SCRATCH / f"profile-{variant.key}-{args.scheme}.txt"
    with tempfile.TemporaryDirectory(prefix="sessionhub-profile-") as tmp:
        certs = generate(Path(tmp))
        with (
            services.upstream(certs, delay_ms=0, cores=cores, log_dir=Path(tmp)) as upstream,
            services.servers(
                [variant],
                upstream.url(args.scheme),
                certs=certs,
                cores=cores,
                log_dir=Path(tmp),
                tag="profile",
            ) as servers,
        ):
            server = servers[variant.key]
            url, pid = server.url, server.process.process.pid
            wrk.start(url, connections=args.concurrency, seconds=2, cores=cores).wait()
            load = wrk.start(
                url, connections=args.concurrency, seconds=args.seconds + 2, cores=cores
            )
            record = [
                spy, "record",
                "--pid", str(pid),
                "--duration", str(args.seconds),
                "--rate", "250",
                "--nonblocking",
                "--format", "raw",
                "--output", str(output),
                *([] if args.all_threads else ["--gil"]),
            ]  # fmt: skip
            subprocess.run(
                record, check=True, capture_output=True, preexec_fn=cores.pin(cores.load)
            )
            measured = load.wait()
    print(
        f"{variant.label}, {args.scheme.upper()}, {args.concurrency} connections: "
        f"{measured.rps:,.0f} req/s under py-spy; stacks in {output}"
    )
    print(summarize(output.read_text(), args.top))


def summarize(collapsed: str, top: int) -> str:
    """The functions with the most samples: with callees (total) and on their own (self)."""
    total: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, weight = line.rpartition(" ")
        if not stack:
            continue
        n = int(weight)
        samples += n
        frames = [_function(frame) for frame in stack.split(";")]
        for name in set(frames):
            total[name] += n
        own[frames[-1]] += n
    if not samples:
        return "no samples"
    lines = [f"{samples} samples", "", "total  self  function"]
    for name, count in total.most_common(top):
        lines.append(f"{count / samples:5.1%} {own[name] / samples:5.1%}  {name}")
    # Where get() is defined, asked of the package itself so that it cannot drift.
    get = f"get ({sessionhub.get.__module__.replace('.', '/')}.py)"
    for name in (get, "fetch (bench/client.py)"):
        if name not in dict(total.most_common(top)):
            lines.append(f"{total[name] / samples:5.1%} {own[name] / samples:5.1%}  {name}")
    return "\n".join(lines)


def _function(frame: str) -> str:
    """``name (path/to/file.py:123)`` -> ``name (file path from the package on)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if path.startswith(f"{ROOT}/"):
        path = path.removeprefix(f"{ROOT}/")
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return f"{name} ({path})"


if __name__ == "__main__":
    main()

"""Check the built wheel and sdist beyond what ``twine check --strict`` reads.

Usage: ``python .ci/check_dist.py DIST_DIR --python 3.11,3.12 --django 5.2,6.0``, where the
versions are those the matrix of ``.ci/run`` runs: the classifiers must list exactly them.
"""

from __future__ import annotations

import argparse
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def metadata(wheel: Path) -> Message:
    """The wheel's METADATA, parsed as the index parses it."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode())


def check_wheel(wheel: Path, pythons: set[str], djangos: set[str]) -> list[str]:
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    outside = [n for n in names if not n.startswith(("sessionhub/", "django_sessionhub-"))]
    if outside:
        problems.append(f"wheel ships files outside the package: {outside}")
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sessionhub").glob("*.py")}
    package.add("sessionhub/py.typed")
    if missing := package - set(names):
        problems.append(f"wheel lacks {sorted(missing)}")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("wheel lacks the LICENSE file")

    meta = metadata(wheel)
    if meta["License-Expression"] != "MIT":
        problems.append(f"License-Expression is {meta['License-Expression']!r}, not 'MIT'")
    urls = meta.get_all("Project-URL") or []
    if not any(url.startswith("Source, https://") for url in urls):
        problems.append(f"no Source among the Project-URLs {urls}")
    classifiers = meta.get_all("Classifier") or []
    prefixes = {"Programming Language :: Python :: ": pythons, "Framework :: Django :: ": djangos}
    for prefix, tested in prefixes.items():
        listed = {c.removeprefix(prefix) for c in classifiers if c.startswith(prefix)}
        listed.discard("3")  # "Python :: 3" names no version
        if listed != tested:
            problems.append(
                f"classifiers {prefix}* list {sorted(listed)}; the matrix runs {sorted(tested)}:"
                " make the classifiers in pyproject.toml match .ci/run"
            )
    description = meta.get_payload()
    assert isinstance(description, str)
    for relative in ("](bench/", "](#", "](./", 'src="bench/'):
        if relative in description:
            problems.append(f"long description has a relative link {relative!r}…")
    return problems


def check_sdist(sdist: Path) -> list[str]:
    with tarfile.open(sdist) as archive:
        names = {n.partition("/")[2] for n in archive.getnames()}
    problems = []
    needed = {"CHANGELOG.md", "LICENSE", "README.md", "pyproject.toml", "sessionhub/py.typed"}
    needed |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "sessionhub").glob("*.py")}
    if missing := needed - names:
        problems.append(f"sdist lacks {sorted(missing)}")
    # The suite needs the reference project, deploy/ and the whole of tests/ to run;
    # a part of it would only fail, so the sdist ships none of it.
    if shipped := sorted(n for n in names if n.startswith(("tests/", "config/", "bench/"))):
        problems.append(f"sdist ships part of the test suite or project: {shipped[:5]}…")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dist", type=Path)
    parser.add_argument("--python", required=True, help="comma-separated, e.g. 3.11,3.12")
    parser.add_argument("--django", required=True, help="comma-separated, e.g. 5.2,6.0")
    args = parser.parse_args()
    (wheel,) = args.dist.glob("*.whl")
    (sdist,) = args.dist.glob("*.tar.gz")
    problems = check_wheel(wheel, set(args.python.split(",")), set(args.django.split(",")))
    problems += check_sdist(sdist)
    for problem in problems:
        print(f"{problem}")
    if problems:
        raise SystemExit(f"{len(problems)} problem(s) in {args.dist}")
    print(f"{wheel.name} and {sdist.name}: complete, metadata as the matrix runs")


if __name__ == "__main__":
    main()

"""Run the benchmarks (`make bench`): every module in bench/ with a `TITLE` and a `run(quick) -> dict`.

A full run writes `bench/results/latest.json` and regenerates `bench/RESULTS.md`; `--quick` is a smoke run
whose numbers go to `bench/results/quick.json` only. Goals are ratios against a baseline measured in the same
run; a missed goal is reported, and fails the command only with `--strict`.

    python -m bench.run [--quick] [--only http_read] [--warmup S] [--duration S] [--rounds N] [--strict]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import os
import pkgutil
import platform
import sqlite3
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.report import render_markdown

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
PACKAGES = ("fastapi", "starlette", "uvicorn", "pydantic", "sqlalchemy", "psycopg", "uvloop", "httptools")


def discover(only: list[str] | None = None) -> list[ModuleType]:
    modules = []
    for info in sorted(pkgutil.iter_modules([str(BENCH_DIR)]), key=lambda i: i.name):
        if info.name == "run" or (only and info.name not in only):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        if isinstance(getattr(module, "TITLE", None), str) and callable(getattr(module, "run", None)):
            modules.append(module)
    missing = set(only or ()) - {m.__name__.rsplit(".", 1)[1] for m in modules}
    if missing:
        raise SystemExit(f"no benchmark named {', '.join(sorted(missing))}")
    return modules


def machine_info() -> dict[str, Any]:
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(affinity) if affinity is not None else os.cpu_count(),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {name: _version(name) for name in PACKAGES},
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "git_commit": _git_commit(),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def run_benchmark(module: ModuleType, quick: bool) -> dict[str, Any]:
    name = module.__name__.rsplit(".", 1)[1]
    print(f"bench: {name} ({module.TITLE}) ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        result: dict[str, Any] = module.run(quick)
    except Exception:
        # One broken benchmark must not hide the others' numbers.
        result = {"title": module.TITLE, "error": traceback.format_exc()}
    result["name"] = name
    result["timestamp"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    result["seconds"] = round(time.monotonic() - started, 1)
    result["passed"] = benchmark_passed(result)
    print(f"bench: {name} done in {result['seconds']} s: {_verdict(result['passed'])}", file=sys.stderr)
    return result


def benchmark_passed(result: dict[str, Any]) -> bool:
    if "error" in result:
        return False
    outcomes = [r["passed"] for case in result.get("cases", ()) for r in case.get("ratios", ())]
    outcomes += [c["passed"] for case in result.get("cases", ()) for c in case.get("checks", ())]
    return all(outcome is not False for outcome in outcomes)


def _verdict(passed: bool) -> str:
    return "all goals met" if passed else "GOAL MISSED OR ERROR"


def merged_with_previous(path: Path, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An `--only` run replaces its own benchmarks in the last full report and keeps the others' numbers."""
    try:
        previous: list[dict[str, Any]] = json.loads(path.read_text())["benchmarks"]
    except (OSError, ValueError, KeyError):
        return fresh
    by_name = {b["name"]: b for b in previous} | {b["name"]: b for b in fresh}
    return sorted(by_name.values(), key=lambda b: str(b["name"]))


def set_duration_overrides(options: argparse.Namespace) -> None:
    # Benchmarks read these through bench.harness.Durations.from_env.
    for option, variable in (
        ("warmup", "BENCH_WARMUP_SECONDS"),
        ("duration", "BENCH_DURATION_SECONDS"),
        ("rounds", "BENCH_ROUNDS"),
    ):
        value = getattr(options, option)
        if value is not None:
            os.environ[variable] = str(value)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run; leaves latest.json alone")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--warmup", type=float, help="seconds of load before each measurement")
    parser.add_argument("--duration", type=float, help="seconds measured per round")
    parser.add_argument("--rounds", type=int, help="measurements per side")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--render", action="store_true", help="only rewrite RESULTS.md from latest.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.render:
        report = json.loads((RESULTS_DIR / "latest.json").read_text())
        (BENCH_DIR / "RESULTS.md").write_text(render_markdown(report))
        return 0
    set_duration_overrides(options)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    machine = machine_info()
    benchmarks = [run_benchmark(module, options.quick) for module in discover(options.only)]
    RESULTS_DIR.mkdir(exist_ok=True)
    output = RESULTS_DIR / ("quick.json" if options.quick else "latest.json")
    if options.only and not options.quick:
        benchmarks = merged_with_previous(output, benchmarks)
    report = {
        "timestamp": started,
        "mode": "quick" if options.quick else "full",
        "machine": machine,
        "benchmarks": benchmarks,
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {output.relative_to(BENCH_DIR.parent)}", file=sys.stderr)
    if not options.quick:
        (BENCH_DIR / "RESULTS.md").write_text(render_markdown(report))
        print("bench: wrote bench/RESULTS.md", file=sys.stderr)
    errored = any("error" in b for b in benchmarks)
    missed = not all(b["passed"] for b in benchmarks)
    return 1 if errored or (options.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())

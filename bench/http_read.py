"""Requests/s and latency of a small DB-backed read, `GET /api/users/{username}`, through our whole stack
against the same query served by a bare Starlette app (`bench/floor_app.py`, the framework floor).

    python -m bench.http_read [--quick]     (or through `python -m bench.run`)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from typing import Any

from bench.databases import BenchDatabase, fresh_database, runnable
from bench.harness import (
    CpuPlan,
    Durations,
    UvicornServer,
    children_cpu_seconds,
    cpu_plan,
    http_get,
    machine_busy_cpu_seconds,
    ratio,
)
from bench.loadgen import LoadResult, measure
from modelyard.accounts.service import create_user
from modelyard.core.bootstrap import load_domain_modules
from modelyard.core.db import Database

TITLE = "HTTP read: GET /api/users/{username}"
BASELINE = "bare Starlette app, one sync route, the same query with SQLAlchemy Core on the same engine"
METHOD = (
    "Ours (the whole app as deployed: the edge middleware with request id, per-IP rate limit, CSRF, security "
    "headers, metrics and access log; the endpoint as served, a hot route reading on a pooled Connection; "
    "Pydantic; the error handlers) and the floor run as one uvicorn process each with the same options and "
    "start-up (both freeze their start-up heap out of the garbage collector's sight), side by side on the same "
    "fresh database, pinned to the same core; the load generator (32 keep-alive connections, one request in "
    "flight each, a few hundred usernames round-robin) runs in its own process on another core. Rounds "
    "alternate which server goes first and each side's best round counts, so a burst of outside load on a "
    "shared machine penalises neither side alone."
)
NOTES = (
    "Where ours spends the difference (thread-pool hops, middleware, routing), and what FastAPI's own route or "
    "a Session would add, layer by layer with exact call counts: `python -m bench.diagnose_http_read`."
)
THROUGHPUT_GOAL = 0.6
CONNECTIONS = 32
USERS = 10_000
QUICK_USERS = 2_000
PATHS = 300
OURS_FACTORY = "modelyard.app:create_app"
# Every request comes from 127.0.0.1: a limit too high to reach keeps the per-IP limiter's cost in the
# measurement without answering 429s.
SERVER_SETTINGS: dict[str, Any] = {"rate_limit_ip_per_minute": 10**9}
FLOOR_FACTORY = "bench.floor_app:create_floor_app"


def run(quick: bool) -> dict[str, Any]:
    durations = Durations.from_env(quick)
    plan = cpu_plan()
    cases: list[dict[str, Any]] = []
    names, skipped = runnable()
    for name in names:
        with fresh_database(name) as database:
            usernames = seed_users(database, QUICK_USERS if quick else USERS)
            cases.append(run_case(database, request_paths(usernames), durations, plan))
    return {
        "title": TITLE,
        "baseline": BASELINE,
        "method": METHOD,
        "config": {
            "connections": CONNECTIONS,
            "users": QUICK_USERS if quick else USERS,
            "paths": PATHS,
            **asdict(durations),
            "cpus": plan.describe(),
        },
        "cases": cases,
        "skipped": skipped,
        "notes": NOTES,
    }


def seed_users(database: BenchDatabase, count: int) -> list[str]:
    load_domain_modules(database.settings)
    db = Database(database.settings)
    usernames = [f"user_{i:05d}" for i in range(count)]
    try:
        with db.transaction() as session:
            for i, username in enumerate(usernames):
                user = create_user(session, username=username, email=f"{username}@bench.example", password=None)
                # Half the profiles have a display name, so both shapes of the response are served.
                if i % 2:
                    user.display_name = f"User {i}"
    finally:
        db.dispose()
    return usernames


def request_paths(usernames: list[str]) -> list[str]:
    chosen = random.Random(20240601).sample(usernames, min(PATHS, len(usernames)))
    # Mixed case exercises the case-insensitive lookup, as real links do.
    return [f"/api/users/{name.upper() if i % 3 == 0 else name}" for i, name in enumerate(chosen)]


def run_case(database: BenchDatabase, paths: list[str], durations: Durations, plan: CpuPlan) -> dict[str, Any]:
    env = {**database.env, **{f"MODELYARD_{name.upper()}": str(value) for name, value in SERVER_SETTINGS.items()}}
    with ExitStack() as stack:
        servers = [
            stack.enter_context(UvicornServer(side, factory, env, ready_path=paths[0], cpus=plan.server))
            for side, factory in (("ours", OURS_FACTORY), ("floor", FLOOR_FACTORY))
        ]
        same = compare_responses(servers[0].port, servers[1].port, paths[:20])
        rounds: dict[str, list[Round]] = {"ours": [], "floor": []}
        for number in range(durations.rounds):
            for server in servers if number % 2 == 0 else servers[::-1]:
                rounds[server.name].append(measure_round(server, paths, durations, plan))
    return summarise_case(database.name, rounds, same)


@dataclass(frozen=True)
class Round:
    load: LoadResult
    server_cpu_seconds: float  # warm-up included, like load.completed_total
    # Cores' worth of CPU used by neither server nor load generator while the round ran: other work on a
    # shared machine (and the PostgreSQL server itself). High values flag a disturbed round.
    outside_cpu_cores: float

    @property
    def cpu_us_per_request(self) -> float:
        return round(self.server_cpu_seconds / max(1, self.load.completed_total) * 1e6, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self.load),
            "server_cpu_us_per_request": self.cpu_us_per_request,
            "outside_cpu_cores": round(self.outside_cpu_cores, 2),
        }


def measure_round(server: UvicornServer, paths: list[str], durations: Durations, plan: CpuPlan) -> Round:
    server_before, client_before = server.cpu_seconds(), children_cpu_seconds()
    busy_before, started = machine_busy_cpu_seconds(), time.monotonic()
    load = measure(
        server.port,
        paths,
        connections=CONNECTIONS,
        warmup=durations.warmup,
        duration=durations.duration,
        cpus=plan.client,
    )
    elapsed = time.monotonic() - started
    server_cpu = server.cpu_seconds() - server_before
    client_cpu = children_cpu_seconds() - client_before
    outside = machine_busy_cpu_seconds() - busy_before - server_cpu - client_cpu
    return Round(load, server_cpu, max(0.0, outside) / elapsed)


def compare_responses(ours_port: int, floor_port: int, paths: list[str]) -> dict[str, bool]:
    """Both servers must answer the sample with the same JSON, or the comparison means nothing."""
    identical_bytes = True
    for path in paths:
        ours_status, ours_body = http_get(ours_port, path)
        floor_status, floor_body = http_get(floor_port, path)
        if ours_status != 200 or floor_status != 200 or json.loads(ours_body) != json.loads(floor_body):
            raise RuntimeError(
                f"{path}: ours answered {ours_status} {ours_body[:300]!r}, "
                f"the floor {floor_status} {floor_body[:300]!r}"
            )
        identical_bytes = identical_bytes and ours_body == floor_body
    return {"identical_json": True, "identical_bytes": identical_bytes}


def summarise_case(name: str, rounds: dict[str, list[Round]], same: dict[str, bool]) -> dict[str, Any]:
    ours_round = max(rounds["ours"], key=lambda r: r.load.requests_per_second)
    floor_round = max(rounds["floor"], key=lambda r: r.load.requests_per_second)
    ours, floor = ours_round.load, floor_round.load
    errors = sum(r.load.errors for side in rounds.values() for r in side)
    return {
        "name": name,
        "ratios": [
            ratio(
                "requests/s",
                ours.requests_per_second,
                floor.requests_per_second,
                higher_is_better=True,
                goal=THROUGHPUT_GOAL,
            ).as_dict(),
            ratio("p50 latency (ms)", ours.p50_ms, floor.p50_ms, higher_is_better=False).as_dict(),
            ratio("p99 latency (ms)", ours.p99_ms, floor.p99_ms, higher_is_better=False).as_dict(),
            ratio(
                "server CPU per request (µs)",
                ours_round.cpu_us_per_request,
                floor_round.cpu_us_per_request,
                higher_is_better=False,
            ).as_dict(),
        ],
        "checks": [
            {"check": "same JSON from both servers", "passed": same["identical_json"]},
            {"check": "no errors under load (non-2xx or socket)", "passed": errors == 0},
        ],
        "raw": {
            "ours": ours_round.as_dict(),
            "floor": floor_round.as_dict(),
            "rounds": {side: [r.as_dict() for r in results] for side, results in rounds.items()},
            "identical_bytes": same["identical_bytes"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    options = parser.parse_args()
    json.dump(run(options.quick), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""The download hot path: requests/s and latency of `GET /api/download/models/{id}` answering 307, with the
download recorded as an event (ours), against the same app counting nothing (the floor) and the same app
counting the way it did before download trends, inside the request (before).

    python -m bench.download_hot_path [--quick]     (or through `python -m bench.run --only download_hot_path`)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench import download_apps
from bench.catalog_seed import MODELS_PER_OWNER, Seeder
from bench.databases import BenchDatabase, fresh_database, runnable
from bench.harness import CpuPlan, Durations, UvicornServer, cpu_plan, ratio
from bench.loadgen import LoadResult, measure
from modelyard.catalog import stats_aggregation
from modelyard.catalog.enums import ModelStatus
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.bootstrap import load_domain_modules
from modelyard.core.db import Database, make_engine, utcnow

TITLE = "Download hot path: the 307 of GET /api/download/models/{id}, the download recorded"
BASELINE = "the same app with the route's counting step removed: the 307 with no bookkeeping, same database"
METHOD = (
    "Four uvicorn processes run the whole app on the same fresh database, pinned to the same core, and differ "
    "only in the download route's counting step: ours appends the event to the process's buffer, which a "
    "thread writes about once a second (`catalog.stats_buffer`); the floor records nothing; 'before' counts as "
    "the route did until issue 15, inside the request (a row per downloader per version per hour, then the "
    "version's and the model's counters bumped, one write transaction); 'event row' inserts the event in a "
    "write transaction of its own in the request (`catalog.stats.record`). The load generator (16 keep-alive "
    "connections, anonymous, on another core) asks for the published versions of a seeded catalog, every "
    "request a version not yet downloaded in the round, so each one does the full bookkeeping. Each "
    "measurement starts its side's server afresh and stops it after (one server holds database connections at "
    "a time); recorded rows are cleared before it and counted once the server has stopped (a stop writes "
    "ours' buffer). Rounds rotate which side goes first; each side's best round counts. After ours' last "
    "round the aggregation job's step (`catalog.stats_aggregation.aggregate`) counts the events it recorded, "
    "in batches, timed in this process."
)
NOTES = (
    "The aggregation job does not run during the rounds (in `modelyard serve` it runs once a minute and, on "
    "SQLite, holds the write lock for one batch at a time; see docs/decisions/0017-download-trends.md)."
)
GOAL = 0.8
CONNECTIONS = 16
MODELS, QUICK_MODELS = 15_000, 3_000
SIDES = {
    "ours": "modelyard.app:create_app",
    "floor": "bench.download_apps:create_uncounted_app",
    "before": "bench.download_apps:create_counting_app",
    "event row": "bench.download_apps:create_event_row_app",
}
SERVER_SETTINGS = {"MODELYARD_RATE_LIMIT_IP_PER_MINUTE": str(10**9), "MODELYARD_DOWNLOADS_PER_HOUR": str(10**9)}


def run(quick: bool) -> dict[str, Any]:
    durations = Durations.from_env(quick)
    if not quick:  # bursts of outside work on a shared machine swing single rounds: more rounds than usual
        durations = Durations(durations.warmup, durations.duration, max(durations.rounds, 5))
    plan = cpu_plan()
    models = QUICK_MODELS if quick else MODELS
    names, skipped = runnable()
    cases = []
    for name in names:
        with fresh_database(name) as database:
            paths = seed(database, models)
            cases.append(run_case(database, paths, durations, plan))
    return {
        "title": TITLE,
        "baseline": BASELINE,
        "method": METHOD,
        "config": {"models": models, "connections": CONNECTIONS, **vars(durations), "cpus": plan.describe()},
        "cases": cases,
        "skipped": skipped,
        "notes": NOTES,
    }


def seed(database: BenchDatabase, models: int) -> list[str]:
    """A catalog of `models` models (three versions each, most published); the paths of its downloadable
    versions, shuffled."""
    load_domain_modules(database.settings)
    engine = make_engine(database.settings)
    try:
        Seeder(engine, utcnow(), models).grow(range(1, models + 1), owners=max(1, models // MODELS_PER_OWNER))
        with engine.connect() as connection:
            ids = connection.scalars(
                select(ModelVersion.id)
                .join(Model, Model.id == ModelVersion.model_id)
                .where(
                    Model.status == ModelStatus.Published,
                    Model.availability != "Private",
                    ModelVersion.status == ModelStatus.Published,
                )
            ).all()
    finally:
        engine.dispose()
    paths = [f"/api/download/models/{version_id}" for version_id in ids]
    random.Random(15).shuffle(paths)
    return paths


def run_case(database: BenchDatabase, paths: list[str], durations: Durations, plan: CpuPlan) -> dict[str, Any]:
    """Each measurement starts its side's server and stops it after: one server at a time holds connections to
    the database (four idle pools exhausted a shared PostgreSQL), and a stop writes what ours has buffered."""
    env = {**database.env, **SERVER_SETTINGS}
    engine = make_engine(database.settings)
    download_apps.create_old_table(engine)
    rounds: dict[str, list[LoadResult]] = {side: [] for side in SIDES}
    recorded: dict[str, int] = {}
    aggregation: dict[str, float] = {}
    try:
        order = list(SIDES)
        for number in range(durations.rounds):
            for side in order[number % len(order) :] + order[: number % len(order)]:
                clear_recorded(engine)
                with UvicornServer(side, SIDES[side], env, ready_path="/healthz", cpus=plan.server) as server:
                    result = measure(
                        server.port,
                        paths,
                        connections=CONNECTIONS,
                        warmup=durations.warmup,
                        duration=durations.duration,
                        cpus=plan.client,
                        expect_status=307,
                    )
                rounds[side].append(result)
                recorded[side] = rows_recorded(engine, side)
                if side == "ours" and number == durations.rounds - 1:
                    aggregation = time_aggregation(database)
    finally:
        engine.dispose()
    return summarise(database.name, rounds, recorded, aggregation)


def clear_recorded(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM stat_event"))
        connection.execute(text("DELETE FROM bench_model_download"))


def rows_recorded(engine: Engine, side: str) -> int:
    table = {"ours": "stat_event", "event row": "stat_event", "before": "bench_model_download"}.get(side)
    if table is None:
        return 0
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(text(table))).scalar_one())


def time_aggregation(database: BenchDatabase) -> dict[str, float]:
    """Count the events ours recorded in its last round, batch after batch, as the job would."""
    db = Database(database.settings)
    try:
        events, batches, started = 0, 0, time.perf_counter()
        while True:
            with db.transaction() as session:
                counted = stats_aggregation.aggregate(session)
            if not counted:
                break
            events, batches = events + counted, batches + 1
        seconds = time.perf_counter() - started
    finally:
        db.dispose()
    return {"events": events, "batches": batches, "seconds": round(seconds, 3), "per_second": round(events / seconds)}


def summarise(
    name: str, rounds: dict[str, list[LoadResult]], recorded: dict[str, int], aggregation: dict[str, float]
) -> dict[str, Any]:
    best = {side: max(results, key=lambda r: r.requests_per_second) for side, results in rounds.items()}
    rps = {side: result.requests_per_second for side, result in best.items()}
    return {
        "name": name,
        "ratios": [
            item.as_dict()
            for item in (
                ratio("requests/s", rps["ours"], rps["floor"], higher_is_better=True, goal=GOAL),
                ratio("p99 latency (ms)", best["ours"].p99_ms, best["floor"].p99_ms, higher_is_better=False),
                ratio(
                    "requests/s, before (counted in the request)", rps["before"], rps["floor"], higher_is_better=True
                ),
                ratio("requests/s, an event row per request", rps["event row"], rps["floor"], higher_is_better=True),
                ratio("requests/s, ours vs before", rps["ours"], rps["before"], higher_is_better=True),
            )
        ],
        "checks": [
            {
                "check": "every answer was a 307",
                "passed": all(result.errors == 0 for results in rounds.values() for result in results),
            },
            {
                "check": "ours recorded one event per download of its last round "
                f"({recorded['ours']} events, {rounds['ours'][-1].completed_total} answers)",
                "passed": recorded["ours"] == rounds["ours"][-1].completed_total,
            },
            {
                "check": "the event-row variant too "
                f"({recorded['event row']} events, {rounds['event row'][-1].completed_total} answers)",
                "passed": recorded["event row"] == rounds["event row"][-1].completed_total,
            },
            {
                "check": f"the job's step counted them all ({aggregation['events']:.0f} events)",
                "passed": aggregation["events"] == recorded["ours"],
            },
        ],
        "raw": {
            "rounds": {
                side: [
                    {
                        "requests_per_second": r.requests_per_second,
                        "p50_ms": r.p50_ms,
                        "p90_ms": r.p90_ms,
                        "p99_ms": r.p99_ms,
                        "max_ms": r.max_ms,
                        "errors": r.errors,
                        "error_samples": r.error_samples,
                    }
                    for r in results
                ]
                for side, results in rounds.items()
            },
            "aggregation": aggregation,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller catalog, one short round per side")
    options = parser.parse_args()
    json.dump(run(options.quick), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

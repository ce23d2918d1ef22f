"""Does the catalog's read path grow with the catalog? The model page (`queries.load_model` + `queries.model_out`)
and the owner dashboard (`queries.owner_models` + `queries.content_overview`) on a catalog of 100,000 models
(300,000 versions, a file and two hashes each) against the same reads of the same models when the database held
1,000 models; and the query plans of the catalog's list queries: which index each uses, and any full scan.

    python -m bench.catalog_scale [--quick]     (or through `python -m bench.run`)
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, Select, event, select

from bench.catalog_seed import (
    LARGE,
    MODELS_PER_OWNER,
    QUICK_LARGE,
    SMALL,
    SMALL_OWNERS,
    VERSIONS,
    Seeder,
    is_public,
    sha256_of,
)
from bench.databases import BenchDatabase, fresh_database, runnable
from bench.harness import ratio
from modelyard.catalog import queries
from modelyard.catalog.enums import ModelStatus, ModelType
from modelyard.catalog.lifecycle.visibility import listable_models
from modelyard.catalog.models import Model, ModelFileHash, ModelVersion
from modelyard.core.bootstrap import build_runtime
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime, set_runtime

TITLE = "Catalog at scale: model page and owner dashboard, 100k models against 1k"
BASELINE = "the same reads of the same models and owners, in a database holding only their 1,000 models"
METHOD = (
    "Two fresh databases per engine, side by side. Both hold the measured catalog: 1,000 models of 20 owners "
    "(50 each), 3 versions per model, a safetensors file per version with its SHA256 and AutoV2 hashes, 2 tags "
    "per model, 90 % Published and the rest Draft, Scheduled, Unpublished or Deleted; the large one also holds "
    "other owners' models up to the full size (the measured ones keep the top ids, as the newest models of a "
    "big catalog have). Rows are written with bulk Core inserts: COPY on PostgreSQL, executemany on SQLite. "
    "Then PostgreSQL gets VACUUM ANALYZE, as autovacuum would, and SQLite a WAL checkpoint (TRUNCATE), as later "
    "writes would; SQLite gets no ANALYZE, as the application runs none. A round reads 100 published models' "
    "pages or the 20 owners' dashboards, one session per read as a request has (the overview's cache entry is "
    "dropped first, so its query runs); rounds alternate between the two databases path by path and each "
    "side's best round counts, so a burst of other work on a shared machine penalises neither side alone. "
    "Plans come from EXPLAIN (FORMAT JSON) on PostgreSQL and EXPLAIN QUERY PLAN on SQLite, of the statements "
    "the application functions really send, on the large database."
)
GOAL = 1.5
PAGE_TARGETS, ROUNDS, QUICK_ROUNDS = 100, 9, 3
MODEL_TABLES = ("model", "model_version")


def run(quick: bool) -> dict[str, Any]:
    large = QUICK_LARGE if quick else LARGE
    rounds = QUICK_ROUNDS if quick else ROUNDS
    cases: list[dict[str, Any]] = []
    names, skipped = runnable()
    for name in names:
        with fresh_database(name) as small, fresh_database(name) as big:
            cases.append(run_case(name, {SMALL: small, large: big}, rounds))
    return {
        "title": TITLE,
        "baseline": BASELINE,
        "method": METHOD,
        "config": {
            "models": f"{SMALL:,} and {large:,}",
            "versions_per_model": VERSIONS,
            "rounds": rounds,
            "model_page_targets": PAGE_TARGETS,
            "dashboard_owners": SMALL_OWNERS,
            "goal": f"large / small <= {GOAL}",
        },
        "cases": cases,
        "skipped": skipped,
        "notes": notes(cases, large),
    }


def run_case(name: str, databases: dict[int, BenchDatabase], rounds: int) -> dict[str, Any]:
    """`databases` maps a catalog size to its database: the smaller holds the measured models and owners alone,
    the larger the same rows plus other owners' models."""
    sides: dict[int, tuple[Runtime, Seeder]] = {}
    now, large = utcnow(), max(databases)
    started = time.monotonic()
    try:
        for size, database in databases.items():
            runtime = build_runtime(database.settings)
            sides[size] = runtime, Seeder(runtime.db.engine, now, large)
            set_runtime(runtime)
            sides[size][1].grow(sides[size][1].small_ids, owners=SMALL_OWNERS)
            if size > SMALL:
                sides[size][1].grow(range(1, large - SMALL + 1), owners=(large - SMALL) // MODELS_PER_OWNER)
        seed_seconds = time.monotonic() - started
        small, big = measure(sides, rounds)
        set_runtime(sides[large][0])
        plans = plan_report(*sides[large])
    finally:
        for runtime, _ in sides.values():
            runtime.close()
        set_runtime(None)
    checks = [{"check": f"{query}: {row['check']}", "passed": row["passed"]} for query, row in plans.items()]
    return {
        "name": name,
        "ratios": [
            ratio(f"{path} (µs per read)", big[path], small[path], higher_is_better=False, goal=GOAL).as_dict()
            for path in ("model page", "owner dashboard")
        ],
        "checks": checks,
        "raw": {"small_us": small, "large_us": big, "plans": plans, "seed_seconds": round(seed_seconds, 1)},
    }


# --- reading ---------------------------------------------------------------------------------------------------


def page_targets(seeder: Seeder) -> list[int]:
    public = [m for m in seeder.small_ids if is_public(m)]
    return public[:: max(1, len(public) // PAGE_TARGETS)][:PAGE_TARGETS]


def readers(runtime: Runtime, seeder: Seeder) -> dict[str, tuple[Callable[[int], None], list[int]]]:
    """Each read path and list query of one database, with the ids one round reads."""

    def model_page(model_id: int) -> None:
        with runtime.db.session() as session:
            queries.model_out(session, None, queries.load_model(session, None, model_id))

    def dashboard(owner_id: int) -> None:
        runtime.cache.delete(f"catalog:overview:{owner_id}")  # time the query, not the cache
        with runtime.db.session() as session:
            queries.owner_models(session, owner_id)
            queries.content_overview(session, owner_id)

    found: dict[str, tuple[Callable[[int], None], list[int]]] = {
        "model page": (model_page, page_targets(seeder)),
        "owner dashboard": (dashboard, list(range(1, SMALL_OWNERS + 1))),
    }
    for name, (statement, _) in list_queries(seeder).items():

        def list_query(_: int, statement: Select[Any] = statement) -> None:
            with runtime.db.session() as session:
                session.execute(statement).all()

        found[name] = (list_query, list(range(20)))
    return found


def measure(sides: dict[int, tuple[Runtime, Seeder]], rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Best µs per read of each path on each side; rounds alternate between the sides, path by path."""
    paths = {size: readers(*side) for size, side in sides.items()}
    best: dict[int, dict[str, float]] = {size: {} for size in sides}
    for size, side in sides.items():
        set_runtime(side[0])
        for call, items in paths[size].values():
            for item in items[:10]:
                call(item)  # warm the connection pool, statement caches and database buffers
    gc.collect()
    for number in range(rounds):
        for path in paths[SMALL]:
            for size in sorted(sides, reverse=number % 2 == 1):
                set_runtime(sides[size][0])
                call, items = paths[size][path]
                started = time.perf_counter_ns()
                for item in items:
                    call(item)
                took = (time.perf_counter_ns() - started) / len(items) / 1000
                best[size][path] = round(min(took, best[size].get(path, took)), 1)
    return best[SMALL], best[max(sides)]


def list_queries(seeder: Seeder) -> dict[str, tuple[Select[Any], str]]:
    """The catalog's list queries, as the application writes them, and the index each should use."""
    public = (listable_models(None), Model.status == ModelStatus.Published)
    newest = (Model.published_at.desc(), Model.id.desc())
    model_id = page_targets(seeder)[0]
    file_id = (page_targets(seeder)[1] - 1) * VERSIONS + 1
    return {
        "published, newest first": (
            select(Model).where(*public).order_by(*newest).limit(50),
            "ix_model_status_published",
        ),
        "published of a type, newest first": (
            select(Model).where(*public, Model.type == ModelType.Checkpoint).order_by(*newest).limit(50),
            "ix_model_type_status_published",
        ),
        "an owner's models by status": (
            select(Model).where(Model.user_id == 3, Model.status == ModelStatus.Published)
            .order_by(Model.updated_at.desc(), Model.id.desc()).limit(50),
            "ix_model_user_status",
        ),
        "scheduled and due": (
            select(Model)
            .where(Model.status == ModelStatus.Scheduled, Model.scheduled_for <= seeder.now)
            .order_by(Model.id),
            "ix_model_scheduled",
        ),
        "versions scheduled and due": (
            select(ModelVersion)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(
                ModelVersion.status == ModelStatus.Scheduled,
                ModelVersion.scheduled_for <= seeder.now,
                Model.status == ModelStatus.Published,
            )
            .order_by(ModelVersion.id),
            "ix_model_version_scheduled",
        ),
        "file by hash": (
            select(ModelFileHash).where(ModelFileHash.hash == sha256_of(file_id)),
            "ix_model_file_hash_hash",
        ),
        "versions of a model": (
            select(ModelVersion).where(ModelVersion.model_id == model_id).order_by(ModelVersion.index),
            "ix_model_version_model_index",
        ),
    }  # fmt: skip


# --- plans -----------------------------------------------------------------------------------------------------


@contextmanager
def capture_plans(engine: Engine) -> Iterator[list[list[str]]]:
    """The plan of every statement sent inside the block, as one line per scan ("Index Scan using ix on model")."""
    plans: list[list[str]] = []
    postgres = engine.dialect.name == "postgresql"

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            return
        cursor.execute(("EXPLAIN (FORMAT JSON) " if postgres else "EXPLAIN QUERY PLAN ") + statement, parameters)
        rows = cursor.fetchall()
        plans.append(postgres_scans(rows[0][0][0]["Plan"]) if postgres else [row[3] for row in rows])

    event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        event.remove(engine, "before_cursor_execute", explain)


def postgres_scans(node: dict[str, Any]) -> list[str]:
    lines = []
    if "Relation Name" in node or "Index Name" in node:
        line = node["Node Type"]
        if "Index Name" in node:
            line += f" using {node['Index Name']}"
            if "Index Cond" not in node:
                line += " (whole index)"
        lines.append(line + (f" on {node['Relation Name']}" if "Relation Name" in node else ""))
    for child in node.get("Plans", ()):
        lines += postgres_scans(child)
    return lines


def full_scans(lines: list[str]) -> list[str]:
    """Scans that read a whole model or model_version table (or a whole index of one)."""
    found = []
    for line in lines:
        words = line.replace("(", " ").split()
        table = words[-1] if " on " in line else (words[1] if words[:1] == ["SCAN"] else "")
        whole = line.startswith(("Seq Scan", "SCAN")) or "(whole index)" in line
        if whole and table in MODEL_TABLES:
            found.append(line)
    return found


def plan_report(runtime: Runtime, seeder: Seeder) -> dict[str, dict[str, Any]]:
    engine, report, target = runtime.db.engine, {}, page_targets(seeder)[0]
    for name, (statement, index) in list_queries(seeder).items():
        with capture_plans(engine) as plans, runtime.db.session() as session:
            session.execute(statement).all()
        lines = plans[0]
        scans = full_scans(lines)
        uses = any(index in line for line in lines)
        check = f"uses {index}" + ("" if uses else f" (plan: {'; '.join(lines)})")
        report[name] = {"plan": lines, "index": index, "uses_index": uses, "full_scans": scans, "check": check}
        report[name]["passed"] = uses and not scans
    paths: dict[str, Callable[[Any], None]] = {
        "model page (load_model + model_out)": lambda s: queries.model_out(
            s, None, queries.load_model(s, None, target)
        ),
        "owner dashboard (owner_models)": lambda s: queries.owner_models(s, 3),
    }
    for name, path in paths.items():
        with capture_plans(engine) as plans, runtime.db.session() as session:
            path(session)
        lines = [line for plan in plans for line in plan]
        scans = full_scans(lines)
        check = "no full scan of model or model_version" + (f" (found: {'; '.join(scans)})" if scans else "")
        report[name] = {"plan": lines, "full_scans": scans, "check": check, "passed": not scans}
    return report


def notes(cases: list[dict[str, Any]], large: int) -> str:
    lines = [
        f"Plans (of the {large:,}-model database) and timings per query at {SMALL:,} and {large:,} models (µs per "
        "execution; report only, the goals are on the two read paths).",
        "",
    ]
    for case in cases:
        lines += [f"**{case['name']}**", "", "| query | plan (scans) | µs small | µs large | large / small |"]
        lines += ["| --- | --- | ---: | ---: | ---: |"]
        small, big = case["raw"]["small_us"], case["raw"]["large_us"]
        for name, row in case["raw"]["plans"].items():
            timing = name.split(" (")[0] if name.split(" (")[0] in small else None
            cells = (
                f"{small[timing]:.0f} | {big[timing]:.0f} | {big[timing] / small[timing]:.2f}"
                if timing
                else "— | — | —"
            )
            lines.append(f"| {name} | {'<br>'.join(row['plan']) or '—'} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"grow to {QUICK_LARGE:,} models, fewer rounds")
    options = parser.parse_args()
    json.dump(run(options.quick), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""Where the CPU time of `GET /api/users/{username}` goes: a diagnostic to run by hand, not a benchmark.

Calls the ASGI apps in-process (no sockets, no uvicorn) on one pinned core and measures CPU time per request
for the floor, for ours, and for three variants of ours added as extra routes: the same endpoint through
FastAPI's own route instead of the hot route (what `modelyard.core.hot` saves), the same query through a
Session instead of a bare Connection (what `db.read` saves), and a hot read that runs no SQL (the cost of the
stack itself). Each is measured twice: with the thread pool replaced by a direct call (the pure Python cost of
the layers) and with the real thread pool under 32 concurrent requests; the difference is what thread-pool
hops and GIL hand-offs cost.

    python -m bench.diagnose_http_read [--database sqlite|postgresql] [--requests 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.responses import Response

from bench.databases import fresh_database
from bench.floor_app import create_floor_app
from bench.http_read import SERVER_SETTINGS, USERS, request_paths, seed_users
from modelyard.accounts import service
from modelyard.accounts.routes import get_user
from modelyard.accounts.schemas import PublicUser
from modelyard.app import create_app
from modelyard.core.hot import HotReads
from modelyard.core.http import DbDep, model_response

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
REAL_RUN_SYNC = anyio.to_thread.run_sync
CONSTANT_USER = PublicUser(id=1, username="someone", display_name=None, role="user", created_at=datetime.now(UTC))


async def _direct_run_sync(func: Callable[..., Any], *args: Any, **_options: Any) -> Any:
    return func(*args)


def add_variant_routes(app: FastAPI) -> None:
    variants = HotReads(APIRouter(include_in_schema=False))

    @variants.get("/diagnose/session/{username}", response_model=PublicUser)
    async def with_session(username: str, db: DbDep) -> Response:
        profile = await db.run(lambda session: service.public_profile(session, username))
        return model_response(PublicUser.model_validate(profile))

    @variants.get("/diagnose/no-sql/{username}", response_model=PublicUser)
    async def no_sql(username: str, db: DbDep) -> Response:
        return model_response(await run_in_threadpool(lambda: CONSTANT_USER))  # the hop, without the query

    # Routes match in order: right after ours, so the variants pay for one failed match more than ours does.
    fastapi_route = APIRoute("/diagnose/fastapi/{username}", get_user, response_model=PublicUser)
    app.router.routes[1:1] = [*variants.routes, fastapi_route]


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _request(app: ASGIApp, path: str) -> None:
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(_scope(path), receive, send)
    if status != [200]:
        raise AssertionError(f"{path} answered {status}")


async def _drive(app: ASGIApp, paths: list[str], count: int, concurrency: int) -> float:
    """CPU seconds of this process per request, `concurrency` requests in flight."""

    async def client(offset: int) -> None:
        for i in range(count // concurrency):
            await _request(app, paths[(i * concurrency + offset) % len(paths)])

    started = time.process_time()
    await asyncio.gather(*(client(k) for k in range(concurrency)))
    return (time.process_time() - started) / (count // concurrency * concurrency)


def _new_event_loop() -> asyncio.AbstractEventLoop:
    # The servers run on uvloop when it is installed; measure on the same loop.
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def cpu_us_per_request(app: ASGIApp, paths: list[str], count: int, *, threads: bool) -> float:
    anyio.to_thread.run_sync = REAL_RUN_SYNC if threads else _direct_run_sync  # type: ignore[assignment]
    try:
        concurrency = 32 if threads else 1
        loop = _new_event_loop()
        try:
            loop.run_until_complete(_drive(app, paths, min(500, count), concurrency))  # warm-up
            return loop.run_until_complete(_drive(app, paths, count, concurrency)) * 1e6
        finally:
            loop.close()
    finally:
        anyio.to_thread.run_sync = REAL_RUN_SYNC


FLOOR, OURS = "floor: bare Starlette + Core", "ours: GET /api/users/{username}"
VIA_FASTAPI, WITH_SESSION, NO_SQL = "ours via FastAPI's route", "ours with a Session", "ours, hot read, no SQL"
SHORT_NAMES = {FLOOR: "floor", OURS: "ours", VIA_FASTAPI: "via FastAPI", WITH_SESSION: "Session", NO_SQL: "no SQL"}
# Where a function's code lives decides its layer; the first matching fragment wins.
CALL_LAYERS = [
    ("sqlalchemy/orm/", "SQLAlchemy ORM"),
    ("sqlalchemy/", "SQLAlchemy Core, engine, pool"),
    ("psycopg", "psycopg (PostgreSQL driver)"),
    ("pydantic", "Pydantic"),
    ("fastapi/", "FastAPI"),
    ("starlette/", "Starlette"),
    ("anyio/", "anyio"),
    ("modelyard/", "modelyard"),
    ("bench/", "bench (the driver; the floor's endpoint)"),
    ("prometheus_client/", "prometheus_client"),
]


def _layer_of(filename: str) -> str:
    if filename == "~":
        return "C built-ins"
    return next((name for fragment, name in CALL_LAYERS if fragment in filename), "standard library, other")


def calls_per_request(app: ASGIApp, paths: list[str], count: int) -> Counter[str]:
    """Python and C function calls per request by layer: exact, so unlike times it does not move with load."""
    anyio.to_thread.run_sync = _direct_run_sync  # type: ignore[assignment]
    loop = _new_event_loop()
    try:
        loop.run_until_complete(_drive(app, paths, min(500, count), 1))
        profile = cProfile.Profile()
        profile.enable()
        loop.run_until_complete(_drive(app, paths, count, 1))
        profile.disable()
    finally:
        loop.close()
        anyio.to_thread.run_sync = REAL_RUN_SYNC
    calls: Counter[str] = Counter()
    for (filename, _line, _function), (_primitive, total, *_times) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        calls[_layer_of(filename)] += total
    return Counter({layer: round(n / count) for layer, n in calls.items()})


def print_calls(table: dict[str, Counter[str]]) -> None:
    names = list(table)
    print("\nFunction calls per request by layer (thread pool inlined; exact counts):\n")
    print(f"{'':42s}" + "".join(f"{SHORT_NAMES[name]:>14s}" for name in names))
    layers = sorted({layer for counts in table.values() for layer in counts}, key=lambda layer: -table[names[1]][layer])
    for layer in layers:
        print(f"{layer:42s}" + "".join(f"{table[name][layer]:14,d}" for name in names))
    print(f"{'total':42s}" + "".join(f"{sum(table[name].values()):14,d}" for name in names))


def diagnose(database: str, count: int, repeat: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with fresh_database(database) as db:
        paths = request_paths(seed_users(db, USERS))
        ours = create_app(db.settings.model_copy(update=SERVER_SETTINGS))
        add_variant_routes(ours)
        rows: list[tuple[str, ASGIApp, str]] = [
            (FLOOR, create_floor_app(db.settings), "/api/users/"),
            (OURS, ours, "/api/users/"),
            (VIA_FASTAPI, ours, "/diagnose/fastapi/"),
            (WITH_SESSION, ours, "/diagnose/session/"),
            (NO_SQL, ours, "/diagnose/no-sql/"),
        ]
        best: dict[str, list[float]] = {name: [float("inf"), float("inf")] for name, _, _ in rows}
        # Interleaved repeats, best of each: a burst of outside load then hits every row alike.
        for _ in range(repeat):
            for name, app, prefix in rows:
                row_paths = [p.replace("/api/users/", prefix) for p in paths]
                for column, threads in enumerate((False, True)):
                    value = cpu_us_per_request(app, row_paths, count, threads=threads)
                    best[name][column] = min(best[name][column], value)
        calls = {
            name: calls_per_request(app, [p.replace("/api/users/", prefix) for p in paths], min(count, 1000))
            for name, app, prefix in rows
        }
    print_table(database, best)
    print_calls(calls)


def print_table(database: str, best: dict[str, list[float]]) -> None:
    print(f"CPU µs per request on {database}, in-process, one core:\n")
    print(f"{'':40s} {'thread pool inlined':>20s} {'real pool, 32 in flight':>24s} {'pool + GIL cost':>16s}")
    for name, (inline, threaded) in best.items():
        print(f"{name:40s} {inline:20,.0f} {threaded:24,.0f} {threaded - inline:16,.0f}")
    floor, ours, via_fastapi = best[FLOOR], best[OURS], best[VIA_FASTAPI]
    with_session, no_sql = best[WITH_SESSION], best[NO_SQL]
    hops = (ours[1] - ours[0]) - (floor[1] - floor[0])
    print("\nOurs minus the floor (µs CPU per request, 32 in flight):")
    print(f"  extra thread-pool hops and GIL hand-offs             {hops:8,.0f}")
    print(f"  middleware, routing, request and response layers     {ours[0] - floor[0]:8,.0f}")
    print(f"  total                                                {ours[1] - floor[1]:8,.0f}")
    print("\nWhat ours would cost more (thread pool inlined):")
    print(f"  through FastAPI's route instead of the hot route     {via_fastapi[0] - ours[0]:8,.0f}")
    print(f"  through a Session instead of a bare Connection       {with_session[0] - ours[0]:8,.0f}")
    print(
        f"\nFor scale, no hops: the floor costs {floor[0]:,.0f} with its query; ours costs {no_sql[0]:,.0f} "
        "without running any SQL."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats; the best counts")
    options = parser.parse_args()
    diagnose(options.database, options.requests, options.repeat)


if __name__ == "__main__":
    main()

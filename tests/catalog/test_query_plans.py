"""The catalog's list queries use the indexes made for them (modelyard/catalog/models.py), on PostgreSQL with
statistics: a few thousand rows are written in bulk, ANALYZEd, and each query's EXPLAIN (FORMAT JSON) is read.
`python -m bench.catalog_scale` measures the same queries on 100,000 models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Select, event, insert, select, text

from modelyard.accounts.models import User
from modelyard.catalog import browsing, queries
from modelyard.catalog.enums import HashType, ModelStatus, ModelType
from modelyard.catalog.lifecycle.visibility import listable_models
from modelyard.catalog.models import Model, ModelFile, ModelFileHash, ModelVersion
from modelyard.core.db import utcnow
from modelyard.core.runtime import Runtime

pytestmark = pytest.mark.scaled_only

FIRST = 1_000_000  # ids far above what other tests' rows get from the sequences
MODELS, VERSIONS, OWNERS = 3_000, 3, 60
STATUSES = [ModelStatus.Published] * 90 + [ModelStatus.Draft] * 4 + [ModelStatus.Unpublished] * 2
STATUSES += [ModelStatus.Scheduled] * 2 + [ModelStatus.Deleted] * 2
TYPES = [ModelType.LORA] * 6 + [ModelType.Checkpoint, ModelType.TextualInversion, ModelType.VAE, ModelType.Controlnet]
NOW = utcnow()


def sha256_of(file_id: int) -> str:
    return f"{file_id:064X}"


@pytest.fixture
def catalog(runtime: Runtime) -> Runtime:
    """MODELS models of OWNERS owners, VERSIONS versions each with a file and two hashes; then ANALYZE."""
    published = [NOW - timedelta(hours=MODELS - n) for n in range(MODELS)]
    models, versions, files, hashes = [], [], [], []
    for n in range(MODELS):
        status = STATUSES[n % len(STATUSES)]
        scheduled = NOW + timedelta(days=1 + n % 9) if status == ModelStatus.Scheduled else None
        models.append(
            {
                "id": FIRST + n, "user_id": FIRST + n % OWNERS, "name": f"Model {n}", "type": TYPES[n % len(TYPES)],
                "status": status, "upload_type": "Created", "availability": "Public", "nsfw": False,
                "nsfw_level": 1, "poi": False, "minor": False, "sfw_only": False, "allow_no_credit": True,
                "allow_commercial_use": ["Sell"], "allow_derivatives": True, "allow_different_license": True,
                "meta": {}, "published_at": published[n] if status != ModelStatus.Draft else None,
                "scheduled_for": scheduled, "created_at": published[n], "updated_at": published[n],
            }
        )  # fmt: skip
        for k in range(VERSIONS):
            v = FIRST + n * VERSIONS + k
            versions.append(
                {
                    "id": v, "model_id": FIRST + n, "index": VERSIONS - 1 - k, "name": f"v{k}", "base_model": "SD 1.5",
                    "base_model_type": "Standard", "trained_words": [], "require_auth": False,
                    "upload_type": "Created", "usage_control": "Download", "availability": "Public", "nsfw_level": 0,
                    "status": status, "scheduled_for": scheduled, "meta": {}, "created_at": NOW, "updated_at": NOW,
                }
            )  # fmt: skip
            files.append(
                {
                    "id": v, "model_version_id": v, "name": f"m{v}.safetensors", "storage_key": f"models/{v}",
                    "size_kb": 1.0, "type": "Model", "metadata_": {}, "visibility": "Public",
                    "pickle_scan_result": "Success", "virus_scan_result": "Success", "data_purged": False,
                    "created_at": NOW,
                }
            )  # fmt: skip
            hashes += [
                {"file_id": v, "type": HashType.SHA256, "hash": sha256_of(v), "created_at": NOW},
                {"file_id": v, "type": HashType.AutoV2, "hash": sha256_of(v)[:10], "created_at": NOW},
            ]
    owners = [
        {"id": FIRST + o, "username": f"planner{o}", "username_key": f"planner{o}", "email": f"planner{o}@example.com",
         "role": "user", "links": [], "created_at": NOW}
        for o in range(OWNERS)
    ]  # fmt: skip
    with runtime.db.transaction() as session:
        for entity, rows in ((User, owners), (Model, models), (ModelVersion, versions), (ModelFile, files)):
            session.execute(insert(entity), rows)
        session.execute(insert(ModelFileHash), hashes)
    with runtime.db.transaction() as session:
        for table in ("user", "model", "model_version", "model_file", "model_file_hash"):
            session.execute(text(f'ANALYZE "{table}"'))
    return runtime


@contextmanager
def plans(runtime: Runtime) -> Iterator[list[list[str]]]:
    """Every SELECT sent inside the block, explained: one line per scan, e.g. "Index Scan using ix on model"."""
    found: list[list[str]] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            found.append(scans(cursor.fetchone()[0][0]["Plan"]))

    event.listen(runtime.db.engine, "before_cursor_execute", explain)
    try:
        yield found
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", explain)


def scans(node: dict[str, Any]) -> list[str]:
    line = [node["Node Type"]]
    if "Index Name" in node:
        line.append(f"using {node['Index Name']}")
    if "Relation Name" in node:
        line.append(f"on {node['Relation Name']}")
    return ([" ".join(line)] if len(line) > 1 else []) + [s for child in node.get("Plans", ()) for s in scans(child)]


def plan_of(runtime: Runtime, statement: Select[Any]) -> list[str]:
    with plans(runtime) as found, runtime.db.session() as session:
        session.execute(statement).all()
    assert len(found) == 1
    return found[0]


def uses(plan: list[str], index: str) -> bool:
    """The plan reads through `index` and reads neither model nor model_version whole."""
    whole = [line for line in plan if line.startswith("Seq Scan") and line.split()[-1] in MODEL_TABLES]
    return any(f"using {index} " in f"{line} " for line in plan) and not whole


MODEL_TABLES = ("model", "model_version")
PUBLIC = (listable_models(None), Model.status == ModelStatus.Published)
NEWEST = (Model.published_at.desc(), Model.id.desc())
CASES = {
    # catalog.browsing (models page, site and v1 lists): the public list, newest first, and the same for one type
    "published newest first": (select(Model).where(*PUBLIC).order_by(*NEWEST).limit(50), "ix_model_status_published"),
    "published of a type": (
        select(Model).where(*PUBLIC, Model.type == ModelType.Checkpoint).order_by(*NEWEST).limit(50),
        "ix_model_type_status_published",
    ),
    # the owner's dashboard filtered by status (queries.owner_models without its version counts)
    "an owner's models by status": (
        select(Model)
        .where(Model.user_id == FIRST + 7, Model.status == ModelStatus.Published)
        .order_by(Model.updated_at.desc(), Model.id.desc())
        .limit(50),
        "ix_model_user_status",
    ),
    # catalog.triggers.publish_due: what the scheduler publishes
    "scheduled and due": (
        select(Model).where(Model.status == ModelStatus.Scheduled, Model.scheduled_for <= NOW).order_by(Model.id),
        "ix_model_scheduled",
    ),
    "file by hash": (
        select(ModelFileHash).where(ModelFileHash.hash == sha256_of(FIRST + 4321)),
        "ix_model_file_hash_hash",
    ),
    "versions of a model": (
        select(ModelVersion).where(ModelVersion.model_id == FIRST + 77).order_by(ModelVersion.index),
        "ix_model_version_model_index",
    ),
}


def test_list_queries_use_their_indexes(catalog: Runtime) -> None:
    found = {case: plan_of(catalog, statement) for case, (statement, _) in CASES.items()}
    misses = {case: plan for case, plan in found.items() if not uses(plan, CASES[case][1])}
    assert not misses, misses


def test_model_page_reads_by_index(catalog: Runtime) -> None:
    with plans(catalog) as found, catalog.db.session() as session:
        queries.load_model(session, None, FIRST + 77)
    model, versions = found[0], found[1]
    assert any("_pkey" in line or "pk_model" in line for line in model), model
    assert uses(versions, "ix_model_version_model_index"), versions
    for plan in found:
        assert not [line for line in plan if line.startswith("Seq Scan") and line.split()[-1] in MODEL_TABLES], plan


def test_owner_dashboard_reads_by_index(catalog: Runtime) -> None:
    with plans(catalog) as found, catalog.db.session() as session:
        queries.owner_models(session, FIRST + 7)
    assert uses(found[0], "ix_model_user_status"), found[0]
    assert not [line for line in found[0] if line.startswith("Seq Scan") and line.split()[-1] in MODEL_TABLES]


LISTINGS = {
    # catalog.browsing's own statements, as the models page, the site's list and /api/v1/models run them
    "newest": (browsing.ModelFilters(), browsing.ModelSort.Newest, "ix_model_status_published"),
    "newest of a type": (browsing.ModelFilters(types=("Checkpoint",)), browsing.ModelSort.Newest,
                         "ix_model_type_status_published"),
    "most downloaded": (browsing.ModelFilters(), browsing.ModelSort.MostDownloaded, "ix_model_status_downloads"),
    "a creator's": (browsing.ModelFilters(user_id=FIRST + 7), browsing.ModelSort.Newest, "ix_model_user_status"),
}  # fmt: skip


def test_the_listing_reads_by_index(catalog: Runtime) -> None:
    found = {}
    for case, (filters, sort, _) in LISTINGS.items():
        found[case] = plan_of(catalog, browsing.statement(None, filters, sort).params(limit=25))
    misses = {case: plan for case, plan in found.items() if not uses(plan, LISTINGS[case][2])}
    assert not misses, misses

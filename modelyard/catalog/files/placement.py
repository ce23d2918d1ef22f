"""Where a model file's object lives: withdrawn content's objects are set aside, so the download URLs handed out
before stop working.

A download is a redirect to a signed URL of the object (this server's `/files`, or the bucket's), good for
`signed_url_ttl_seconds`. Nothing can revoke such a URL but the object leaving its key: a soft-deleted model or
version keeps its objects for the retention period (a moderator may restore it), and a model taken down keeps
them for moderators, so without a move their URLs kept serving the file until they expired.

So the objects of a version that is deleted, or whose model is deleted or taken down, move under `withdrawn/`
(the same key behind the prefix), and `ModelFile.storage_key` follows them; when the content comes back, they
move back. New URLs are made for whatever `storage_key` says, so moderators still download, and the purge
deletes what is there. On local storage the move is a rename; on S3 it is a server-side copy and a delete, so
the old URLs die once the copy is done (seconds per GiB, done by a job right after the change commits).
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modelyard.catalog.enums import ModelModifier, ModelStatus
from modelyard.catalog.models import Model, ModelFile, ModelVersion
from modelyard.core.errors import NotFound
from modelyard.core.jobs import Priority, enqueue, job
from modelyard.core.runtime import get_runtime

log = logging.getLogger("modelyard.catalog")

WITHDRAWN = "withdrawn/"
_JOB = "catalog.place_file_objects"


def place_after_commit(session: Session, version_ids: Collection[int]) -> None:
    """Once the change commits, move the objects of these versions' files where their state wants them. Call it
    after any change that deletes, restores, takes down or lifts a take-down."""
    if version_ids:
        enqueue(session, _JOB, version_ids=sorted(set(version_ids)))


def withdrawn(version_status: ModelStatus, model_status: ModelStatus, mode: ModelModifier | None) -> bool:
    """Whether the files' objects go aside: the content is deleted, or taken down."""
    return ModelStatus.Deleted in (version_status, model_status) or mode == ModelModifier.TakenDown


def key_for(key: str, *, aside: bool) -> str:
    plain = key.removeprefix(WITHDRAWN)
    return WITHDRAWN + plain if aside else plain


@job(_JOB, priority=Priority.HIGH, max_attempts=8)
def place_file_objects(session: Session, *, version_ids: list[int]) -> None:
    """Move the misplaced objects, then record their keys. The moves run before the job's session is first used
    (on SQLite that session holds the write lock, and a copy on S3 takes time); each is safe to repeat. If the
    content changed state meanwhile, the job is sent again to follow it."""
    with get_runtime().db.session() as reader:
        moves = _misplaced(reader, version_ids)
    if not moves:
        return
    storage = get_runtime().storage
    moved = []
    for file_id, current, wanted in moves:
        try:
            storage.move(current, wanted)
        except NotFound:  # the object is gone (purged, lost): nothing to move, the key stays as it is
            log.warning("model file object missing; not moved", extra={"file_id": file_id, "key": current})
            continue
        moved.append((file_id, current, wanted))
    for file_id, current, wanted in moved:
        session.execute(
            update(ModelFile)
            .where(ModelFile.id == file_id, ModelFile.storage_key == current)
            .values(storage_key=wanted)
        )
    if _misplaced(session, version_ids) and moved:
        enqueue(session, _JOB, version_ids=version_ids)


def _misplaced(session: Session, version_ids: list[int]) -> list[tuple[int, str, str]]:
    """(file id, key, wanted key) of the versions' files whose object is not where their state wants it."""
    rows = session.execute(
        select(ModelFile.id, ModelFile.storage_key, ModelVersion.status, Model.status, Model.mode)
        .join(ModelVersion, ModelVersion.id == ModelFile.model_version_id)
        .join(Model, Model.id == ModelVersion.model_id)
        .where(ModelFile.model_version_id.in_(version_ids), ModelFile.data_purged.is_(False))
        .order_by(ModelFile.id)
    ).all()
    wanted = [(row[0], row[1], key_for(row[1], aside=withdrawn(row[2], row[3], row[4]))) for row in rows]
    return [(file_id, key, target) for file_id, key, target in wanted if target != key]

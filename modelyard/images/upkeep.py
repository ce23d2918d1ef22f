"""Background care of stored images: BlurHashes for images stored before ingestion computed them, and the bytes
of removed pictures. Run by the jobs in `images.tasks`."""

from __future__ import annotations

import io
import logging

from PIL import Image as PILImage
from PIL import UnidentifiedImageError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from modelyard.core.errors import AppError
from modelyard.core.runtime import get_runtime
from modelyard.images import blurhash
from modelyard.images.models import Image, Ingestion
from modelyard.images.urls import PUBLIC_SUFFIX

log = logging.getLogger("modelyard.images")
BACKFILL_BATCH = 200


def fill_missing_blurhashes(session: Session, *, limit: int = BACKFILL_BATCH) -> int:
    """Compute the BlurHash of up to `limit` images that have none (stored before 0008); returns how many.

    Decoding a stored 2048 px picture takes tens of milliseconds, so a large site's backlog is worked through in
    batches by a periodic job rather than inside the migration. A picture that cannot be read (its object lost,
    its bytes damaged) gets the neutral hash, so it is not read again every run and clients still get a string.
    """
    images = session.scalars(
        select(Image)
        .where(Image.blurhash.is_(None), Image.ingestion == Ingestion.Scanned)  # ingestion computes the others'
        .order_by(Image.id)
        .limit(limit)
    ).all()
    storage = get_runtime().storage
    for image in images:
        try:
            with PILImage.open(io.BytesIO(storage.read_bytes(image.storage_key))) as picture:
                image.blurhash = blurhash.encode(picture)
        except (AppError, UnidentifiedImageError, OSError, ValueError) as exc:
            log.warning("image unreadable; given the neutral BlurHash", extra={"image_id": image.id, "error": str(exc)})
            image.blurhash = blurhash.NEUTRAL
    session.flush()
    return len(images)


def forget_object(session: Session, storage_key: str) -> bool:
    """Delete a removed picture's stored bytes (a public copy with its thumbnails and poster, or an original),
    unless an image uses them (the same picture is in another post: keys are content addresses). True when
    deleted."""
    used = select(Image.id).where(or_(Image.storage_key == storage_key, Image.original_key == storage_key)).limit(1)
    if session.scalar(used) is not None:
        return False
    storage = get_runtime().storage
    if storage_key.startswith("images/") and storage_key.endswith(PUBLIC_SUFFIX):
        stem = storage_key[: -len(PUBLIC_SUFFIX)]
        for derived in list(storage.iter_keys(stem + ".")):
            storage.delete(derived)
    storage.delete(storage_key)
    return True

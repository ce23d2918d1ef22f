"""File storage: one interface (`Storage`) over a local directory or an S3-compatible bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.core.storage.base import Storage, StoredObject, validate_key

if TYPE_CHECKING:
    from modelyard.core.settings import Settings


def make_storage(settings: Settings) -> Storage:
    """The storage backend the settings choose (`MODELYARD_STORAGE_BACKEND`)."""
    if settings.storage_backend == "s3":
        from modelyard.core.storage.s3 import S3Storage

        secret = settings.s3_secret_access_key
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            create_bucket=settings.s3_create_bucket,
            default_ttl=settings.signed_url_ttl_seconds,
        )
    from modelyard.core.storage.local import LocalStorage

    return LocalStorage(
        settings.effective_storage_dir,
        secret=settings.secret,
        base_url=settings.public_base_url,
        default_ttl=settings.signed_url_ttl_seconds,
        accel_redirect_prefix=settings.accel_redirect_prefix,
    )


__all__ = ["Storage", "StoredObject", "make_storage", "validate_key"]

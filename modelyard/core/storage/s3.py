"""S3 storage: any S3-compatible bucket (AWS, MinIO, Garage, rclone...), with presigned upload and download.

boto3 is the optional `s3` extra, so it is imported only when this backend is built.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO, cast

from modelyard.core.errors import AppError, BadRequest, Conflict, NotFound, ServiceUnavailable
from modelyard.core.storage.base import (
    MAX_PUT_SIZE,
    Storage,
    StoredObject,
    content_disposition,
    normalize_etag,
    resolve_ttl,
    validate_key,
    validate_part_number,
    validate_parts_list,
    validate_upload_size,
)

_MULTIPART_CHUNK = 8 * 1024 * 1024
# Unseekable part bodies are spooled (to disk past this size) because the request needs a length up front.
_SPOOL_IN_MEMORY = 8 * 1024 * 1024

_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
_BAD_PARTS = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"}
_BUCKET_TAKEN = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}
_REFUSED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}


class S3Storage(Storage):
    name = "s3"

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        create_bucket: bool = False,
        default_ttl: int = 600,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self._region = region
        self._default_ttl = default_ttl
        config = Config(
            signature_version="s3v4",
            # boto3 >= 1.36 adds checksums that many S3-compatible servers reject (rclone fails ranged GETs).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=3,
            read_timeout=30,
            # Self-hosted servers rarely have wildcard DNS for virtual-hosted bucket names.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        # A session of its own: the default session is shared global state and not thread-safe to build.
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
        self._transfer_config = TransferConfig(
            multipart_threshold=_MULTIPART_CHUNK, multipart_chunksize=_MULTIPART_CHUNK, max_concurrency=4
        )
        if create_bucket:
            self._ensure_bucket()

    # --- objects ---------------------------------------------------------------------------------------
    def save(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> StoredObject:
        validate_key(key)
        extra = {"ContentType": content_type} if content_type else {}
        with self._translate_errors(key):
            if isinstance(data, bytes | bytearray | memoryview):
                self._client.put_object(Bucket=self.bucket, Key=key, Body=bytes(data), **extra)
            else:
                # Streams in chunks, switching to a multipart upload (aborted on failure) for large files.
                self._client.upload_fileobj(
                    data, self.bucket, key, ExtraArgs=extra or None, Config=self._transfer_config
                )
        return self._head(key)

    def open(self, key: str) -> BinaryIO:
        validate_key(key)
        with self._translate_errors(key):
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        return cast(BinaryIO, response["Body"])

    def read_range(self, key: str, start: int, length: int) -> bytes:
        validate_key(key)
        if start < 0 or length < 0:
            raise BadRequest("a byte range starts and runs at or after zero")
        if length == 0:
            return b""
        with self._translate_errors(key):
            try:
                response = self._client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
                )
            except self._client.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                    return b""  # starts at or past the end
                raise
            return cast(bytes, response["Body"].read())

    def stat(self, key: str) -> StoredObject | None:
        try:
            return self._head(validate_key(key))
        except NotFound:
            return None

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._translate_errors(key):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    def move(self, source: str, target: str) -> None:
        """A server-side copy, then the delete that makes the presigned URLs of `source` answer 404 (S3 has no
        rename): the copy takes time on large objects, during which those URLs still work."""
        validate_key(source)
        validate_key(target)
        if source == target:
            return
        found = self.stat(source)
        if found is None:
            if self.stat(target) is not None:
                return  # moved already
            raise NotFound(f"file {source!r} not found")
        origin = {"Bucket": self.bucket, "Key": source}
        with self._translate_errors(source):
            if found.size <= MAX_PUT_SIZE:
                self._client.copy_object(Bucket=self.bucket, Key=target, CopySource=origin)
            else:  # one CopyObject stops at 5 GiB: a multipart copy, part by part on the server
                self._client.copy(origin, self.bucket, target, Config=self._transfer_config)
            self._client.delete_object(Bucket=self.bucket, Key=source)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        with self._translate_errors(prefix):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]

    def _head(self, key: str) -> StoredObject:
        with self._translate_errors(key):
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        return StoredObject(
            key=key,
            size=head["ContentLength"],
            etag=normalize_etag(head["ETag"]),
            modified=head["LastModified"],
            content_type=head.get("ContentType"),
        )

    # --- presigned URLs --------------------------------------------------------------------------------
    def download_url(self, key: str, *, filename: str | None = None, expires_in: int | None = None) -> str:
        params = {"Bucket": self.bucket, "Key": validate_key(key)}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self._presign("get_object", params, expires_in)

    def upload_url(self, key: str, *, size: int, expires_in: int | None = None, content_type: str | None = None) -> str:
        # Content-Length becomes a signed header: the server refuses a PUT of any other length.
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": validate_key(key)}
        params["ContentLength"] = validate_upload_size(size)
        if content_type is not None:
            params["ContentType"] = content_type
        return self._presign("put_object", params, expires_in)

    def part_upload_url(
        self, key: str, upload_id: str, part_number: int, *, size: int, expires_in: int | None = None
    ) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": validate_key(key),
            "UploadId": _check_upload_id(upload_id),
            "PartNumber": validate_part_number(part_number),
            "ContentLength": validate_upload_size(size),
        }
        return self._presign("upload_part", params, expires_in)

    def _presign(self, operation: str, params: dict[str, Any], expires_in: int | None) -> str:
        ttl = resolve_ttl(expires_in, self._default_ttl)
        # Presigning is local computation (no request), so there is nothing to translate.
        return cast(str, self._client.generate_presigned_url(operation, Params=params, ExpiresIn=ttl))

    # --- multipart -------------------------------------------------------------------------------------
    def create_multipart(self, key: str) -> str:
        validate_key(key)
        with self._translate_errors(key):
            response = self._client.create_multipart_upload(Bucket=self.bucket, Key=key)
        return cast(str, response["UploadId"])

    def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes | BinaryIO) -> str:
        validate_key(key)
        _check_upload_id(upload_id)
        validate_part_number(part_number)
        with _seekable_body(data) as body, self._translate_errors(key):
            response = self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=body
            )
        return normalize_etag(response["ETag"])

    def list_parts(self, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        validate_key(key)
        paginator = self._client.get_paginator("list_parts")
        parts = []
        with self._translate_errors(key):
            for page in paginator.paginate(Bucket=self.bucket, Key=key, UploadId=_check_upload_id(upload_id)):
                for part in page.get("Parts", []):
                    parts.append((part["PartNumber"], normalize_etag(part["ETag"]), part["Size"]))
        return sorted(parts)

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> StoredObject:
        validate_key(key)
        _check_upload_id(upload_id)
        listed = [
            {"PartNumber": number, "ETag": f'"{normalize_etag(etag)}"'} for number, etag in validate_parts_list(parts)
        ]
        with self._translate_errors(key):
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listed}
            )
        return self._head(key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        validate_key(key)
        _check_upload_id(upload_id)
        with suppress(NotFound), self._translate_errors(key):
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    # --- health and errors -----------------------------------------------------------------------------
    def check(self) -> None:
        if not self._bucket_exists():
            raise ServiceUnavailable(f"storage: bucket {self.bucket!r} does not exist")

    def _bucket_exists(self) -> bool:
        try:
            with self._translate_errors(self.bucket):
                self._client.head_bucket(Bucket=self.bucket)
        except NotFound:
            return False
        return True

    def _ensure_bucket(self) -> None:
        if self._bucket_exists():
            return
        location = (
            {} if self._region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self._region}}
        )
        # Another process may create it at the same moment; check() reports a bucket we cannot use.
        with suppress(Conflict), self._translate_errors(self.bucket):
            self._client.create_bucket(Bucket=self.bucket, **location)

    @contextmanager
    def _translate_errors(self, subject: str) -> Iterator[None]:
        """Expected S3 failures become typed app errors; anything unexpected propagates unchanged."""
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            HTTPClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            yield
        except ClientError as exc:
            translated = self._client_error(exc, subject)
            if translated is None:
                raise
            raise translated from exc
        except (ConnectionError, HTTPClientError) as exc:
            where = self.endpoint_url or "AWS S3"
            raise ServiceUnavailable(f"storage: cannot reach the S3 server at {where}") from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise ServiceUnavailable("storage: no S3 credentials are configured") from exc

    def _client_error(self, exc: Any, subject: str) -> AppError | None:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code == "NoSuchBucket":
            return ServiceUnavailable(f"storage: bucket {self.bucket!r} does not exist")
        if code == "NoSuchUpload":
            return NotFound("multipart upload not found (completed, aborted or never started)")
        if code in _NOT_FOUND:
            return NotFound(f"file {subject!r} not found")
        if code in _BAD_PARTS:
            return BadRequest(f"the multipart upload was refused: {error.get('Message') or code}")
        if code in _BUCKET_TAKEN:
            return Conflict(f"bucket {self.bucket!r} already exists")
        if code in _REFUSED:
            return ServiceUnavailable("storage: the S3 server refused our credentials")
        if status >= 500:
            return ServiceUnavailable(f"storage: the S3 server failed ({code or status})")
        return None


def _check_upload_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or not 0 < len(upload_id) <= 1024 or not upload_id.isprintable():
        raise BadRequest("invalid multipart upload id")
    return upload_id


@contextmanager
def _seekable_body(data: bytes | BinaryIO) -> Iterator[bytes | BinaryIO]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    seekable = getattr(data, "seekable", None)
    if seekable is not None and seekable():
        yield data
        return
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        while chunk := data.read(1024 * 1024):
            spool.write(chunk)
        spool.seek(0)
        yield cast(BinaryIO, spool)

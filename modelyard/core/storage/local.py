"""Local storage: files in a directory, served and uploaded through the app's own signed URLs (`/files/...`).

Writes go to a hidden temporary file in the target's directory and are renamed over the key with
`os.replace`, so a crash never leaves a half-written file under a key. Multipart uploads keep their parts
under `<root>/.multipart/<upload_id>/` until they are joined the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import mimetypes
import os
import re
import secrets
import shutil
import stat as stat_module
import tempfile
import time
from base64 import urlsafe_b64encode
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode

from modelyard.core.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from modelyard.core.forwarded import current_base
from modelyard.core.storage.base import (
    MIN_PART_SIZE,
    Storage,
    StoredObject,
    content_disposition,
    iter_chunks,
    normalize_etag,
    resolve_ttl,
    validate_key,
    validate_part_number,
    validate_parts_list,
    validate_upload_size,
)

FILES_PATH = "/files"
MULTIPART_DIR = ".multipart"
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_PART_FILE = re.compile(r"part-(\d{5})")
# A purpose-specific key, so a signature made here can never be replayed as a session or API token.
_SIGNING_CONTEXT = b"modelyard.storage.signed-url.v1"


@dataclass(frozen=True)
class SignedRequest:
    """What a signed `/files/...` URL allows: one method on one key until `expires` (Unix time)."""

    method: str
    key: str
    expires: int
    filename: str | None = None
    upload_id: str | None = None
    part_number: int | None = None
    content_type: str | None = None
    # A PUT's exact body length: more or fewer bytes are refused, and nothing is kept.
    size: int | None = None

    def message(self) -> bytes:
        fields: list[object] = [
            self.method,
            self.key,
            self.expires,
            self.filename,
            self.upload_id,
            self.part_number,
            self.content_type,
        ]
        if self.size is not None:
            fields.append(self.size)
        return json.dumps(fields, separators=(",", ":")).encode()


@dataclass(frozen=True)
class LocalFile:
    path: Path
    stat_result: os.stat_result
    object: StoredObject


class LocalStorage(Storage):
    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        secret: str,
        base_url: str,
        default_ttl: int,
        accel_redirect_prefix: str | None = None,
    ) -> None:
        self.root = Path(root)
        # Set when nginx fronts the app: downloads are handed to it (`X-Accel-Redirect`) once the link is checked.
        self.accel_redirect_prefix = accel_redirect_prefix
        self._signing_key = hmac.new(secret.encode(), _SIGNING_CONTEXT, hashlib.sha256).digest()
        self._base_url = base_url.rstrip("/")
        self._default_ttl = default_ttl

    # --- objects ---------------------------------------------------------------------------------------
    def path_for(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def save(self, key: str, data: bytes | BinaryIO, *, content_type: str | None = None) -> StoredObject:
        """Content types are not stored: the local backend derives them from the key's extension."""
        path = self.path_for(key)
        _write_atomically(path, iter_chunks(data))
        return self.local_file(key).object

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path_for(key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFound(f"file {key!r} not found") from None

    def stat(self, key: str) -> StoredObject | None:
        try:
            return self.local_file(key).object
        except NotFound:
            return None

    def local_file(self, key: str) -> LocalFile:
        """The file behind `key` with its stat, for serving it; `NotFound` if missing."""
        path = self.path_for(key)
        try:
            stat_result = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"file {key!r} not found") from None
        if not stat_module.S_ISREG(stat_result.st_mode):
            raise NotFound(f"file {key!r} not found")
        return LocalFile(path, stat_result, _stored_object(key, stat_result))

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        self._prune(path.parent)

    def move(self, source: str, target: str) -> None:
        """A rename: instant, and the signed URLs of `source` answer 404 from then on. (A concurrent delete that
        prunes the target's fresh directory makes it fail; moving again then succeeds.)"""
        old, new = self.path_for(source), self.path_for(target)
        if old == new:
            return
        if not old.is_file():
            if new.is_file():
                return  # moved already
            raise NotFound(f"file {source!r} not found")
        try:
            new.parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, new)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise Conflict("cannot move the file: part of its new key is a file, or keys live under it") from None
        _fsync_directory(new.parent)
        self._prune(old.parent)

    def _prune(self, directory: Path) -> None:
        # Empty directories would otherwise pile up, and block saving a key named like one of them.
        while directory != self.root:
            try:
                directory.rmdir()
            except OSError:
                break
            directory = directory.parent

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        directory, _, _ = prefix.rpartition("/")
        start = self.path_for(directory) if directory else self.root
        yield from _walk(start, f"{directory}/" if directory else "", prefix)

    # --- signed URLs -----------------------------------------------------------------------------------
    def download_url(self, key: str, *, filename: str | None = None, expires_in: int | None = None) -> str:
        if filename is not None:
            content_disposition(filename)  # refuses names that cannot become a header
        return self._signed_url(SignedRequest("GET", validate_key(key), self._expiry(expires_in), filename))

    def upload_url(self, key: str, *, size: int, expires_in: int | None = None, content_type: str | None = None) -> str:
        if content_type is not None and (not content_type or not content_type.isprintable()):
            raise BadRequest("content type must be printable text")
        request = SignedRequest(
            "PUT",
            validate_key(key),
            self._expiry(expires_in),
            content_type=content_type,
            size=validate_upload_size(size),
        )
        return self._signed_url(request)

    def part_upload_url(
        self, key: str, upload_id: str, part_number: int, *, size: int, expires_in: int | None = None
    ) -> str:
        self._upload_dir(key, upload_id)
        request = SignedRequest(
            "PUT",
            key,
            self._expiry(expires_in),
            upload_id=upload_id,
            part_number=validate_part_number(part_number),
            size=validate_upload_size(size),
        )
        return self._signed_url(request)

    def verify_signed_request(self, method: str, key: str, query: Mapping[str, str]) -> SignedRequest:
        """The request a `/files/...` URL's query signs; `Forbidden` if tampered with or expired."""
        try:
            part_number, size = query.get("partNumber"), query.get("size")
            request = SignedRequest(
                method="GET" if method.upper() == "HEAD" else method.upper(),
                key=key,
                expires=int(query["expires"]),
                filename=query.get("filename"),
                upload_id=query.get("uploadId"),
                part_number=int(part_number) if part_number is not None else None,
                content_type=query.get("contentType"),
                size=int(size) if size is not None else None,
            )
            signature = query["sig"]
        except (KeyError, ValueError):
            raise Forbidden("this file link is incomplete or malformed") from None
        if not hmac.compare_digest(signature, self._sign(request)):
            raise Forbidden("this file link's signature is not valid (altered, or made for another method)")
        if request.expires < time.time():
            raise Forbidden("this file link has expired; ask for a new one")
        return request

    def _expiry(self, expires_in: int | None) -> int:
        return int(time.time()) + resolve_ttl(expires_in, self._default_ttl)

    def _sign(self, request: SignedRequest) -> str:
        digest = hmac.new(self._signing_key, request.message(), hashlib.sha256).digest()
        return urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _signed_url(self, request: SignedRequest) -> str:
        params: dict[str, str | int] = {"expires": request.expires}
        optional = {
            "filename": request.filename,
            "uploadId": request.upload_id,
            "partNumber": request.part_number,
            "contentType": request.content_type,
            "size": request.size,
        }
        params.update({name: value for name, value in optional.items() if value is not None})
        params["sig"] = self._sign(request)
        query = urlencode(params, quote_via=quote)
        base = current_base() or self._base_url  # unset public URL: the address this request came to
        return f"{base}{FILES_PATH}/{quote(request.key, safe='/')}?{query}"

    # --- multipart -------------------------------------------------------------------------------------
    def create_multipart(self, key: str) -> str:
        validate_key(key)
        upload_id = secrets.token_urlsafe(24)
        directory = self.root / MULTIPART_DIR / upload_id
        directory.mkdir(parents=True)
        _write_atomically(directory / "key", [key.encode()])
        return upload_id

    def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes | BinaryIO) -> str:
        directory = self._upload_dir(key, upload_id)
        part = directory / f"part-{validate_part_number(part_number):05d}"
        _write_atomically(part, iter_chunks(data), create_parents=False)
        return _etag(part.stat())

    def list_parts(self, key: str, upload_id: str) -> list[tuple[int, str, int]]:
        directory = self._upload_dir(key, upload_id)
        parts = []
        for entry in os.scandir(directory):
            match = _PART_FILE.fullmatch(entry.name)
            if match:
                stat_result = entry.stat()
                parts.append((int(match[1]), _etag(stat_result), stat_result.st_size))
        return sorted(parts)

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> StoredObject:
        directory = self._upload_dir(key, upload_id)
        validate_parts_list(parts)
        with contextlib.ExitStack() as stack:
            readers = []
            for index, (number, etag) in enumerate(parts):
                try:
                    reader = stack.enter_context((directory / f"part-{number:05d}").open("rb"))
                except FileNotFoundError:
                    raise BadRequest(f"part {number} was not uploaded") from None
                # Checked on the open file: a part replaced after this check is not the one joined.
                stat_result = os.fstat(reader.fileno())
                if _etag(stat_result) != normalize_etag(etag):
                    raise BadRequest(f"part {number} does not match its ETag (was it uploaded again?)")
                if stat_result.st_size < MIN_PART_SIZE and index < len(parts) - 1:
                    raise BadRequest(f"part {number} is smaller than 5 MiB and is not the last part")
                readers.append(reader)
            _write_atomically(self.path_for(key), (chunk for r in readers for chunk in iter_chunks(r)))
        shutil.rmtree(directory, ignore_errors=True)
        return self.local_file(key).object

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            directory = self._upload_dir(key, upload_id)
        except NotFound:
            return
        shutil.rmtree(directory, ignore_errors=True)

    def _upload_dir(self, key: str, upload_id: str) -> Path:
        validate_key(key)
        if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
            raise BadRequest("invalid multipart upload id")
        directory = self.root / MULTIPART_DIR / upload_id
        try:
            owner = (directory / "key").read_text()
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("multipart upload not found (completed, aborted or never started)") from None
        if owner != key:
            raise NotFound("multipart upload not found for this key")
        return directory

    # --- health ----------------------------------------------------------------------------------------
    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root, prefix=".check-"):
                pass
        except OSError as exc:
            detail = f"storage: directory {self.root} is not writable ({exc.strerror})"
            raise ServiceUnavailable(detail) from exc


def _etag(stat_result: os.stat_result) -> str:
    # Every write is a new file (temp file + rename), so inode, mtime and size change together with content.
    identity = f"{stat_result.st_ino}-{stat_result.st_mtime_ns}-{stat_result.st_size}"
    return hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()


def _stored_object(key: str, stat_result: os.stat_result) -> StoredObject:
    return StoredObject(
        key=key,
        size=stat_result.st_size,
        etag=_etag(stat_result),
        modified=datetime.fromtimestamp(stat_result.st_mtime, UTC),
        content_type=mimetypes.guess_type(key)[0],
    )


def _write_atomically(target: Path, chunks: Iterable[bytes], *, create_parents: bool = True) -> None:
    fd, temp_name = _make_temp_file(target.parent, create_parents=create_parents)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.replace(temp_name, target)
        except IsADirectoryError:
            raise Conflict("cannot store the file: other keys live under its key") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


def _make_temp_file(directory: Path, *, create_parents: bool) -> tuple[int, str]:
    # A concurrent delete may prune the freshly made directory before the temp file lands in it: retry.
    for _attempt in range(3):
        if create_parents:
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise Conflict("cannot store the file: part of its key is already a file") from None
        try:
            return tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".partial")
        except FileNotFoundError:
            if not create_parents:
                raise NotFound("multipart upload not found (completed or aborted meanwhile)") from None
    raise ServiceUnavailable("storage: could not create a temporary file, try again")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; without it a power cut can bring the old file back.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _walk(directory: Path, relative: str, prefix: str) -> Iterator[str]:
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return
    is_dir = {entry.name: entry.is_dir(follow_symlinks=False) for entry in entries}
    # Sorting a directory as "name/" yields keys in the same order as S3 (plain string order of full keys).
    for entry in sorted(entries, key=lambda e: e.name + "/" if is_dir[e.name] else e.name):
        if entry.name.startswith("."):
            continue
        key = relative + entry.name
        if is_dir[entry.name]:
            if key.startswith(prefix) or prefix.startswith(key + "/"):
                yield from _walk(Path(entry.path), key + "/", prefix)
        elif key.startswith(prefix) and entry.is_file(follow_symlinks=False):
            yield key

"""`modelyard upload PATH --version ID`: a resumable upload from the terminal, over the server's upload API.

Parts stream from the file with constant memory and are retried with backoff when the link or the server drops;
the upload's id is remembered per file, so running the same command again resumes where storage stopped. The
file's SHA-256 is computed on the way (parts already on the server are read again for it, never re-sent) and
the server refuses the file if what it joined differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urljoin

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

READ_CHUNK = 1024 * 1024
URL_BATCH = 8


class UploadError(Exception):
    """The upload cannot go on; the message says why and what to do."""


@dataclass
class UploadPlan:
    server: str
    api_key: str
    path: Path
    version_id: int
    file_type: str = "Model"
    part_size: int | None = None
    state_dir: Path | None = None
    retries: int = 8
    timeout: float = 60.0


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "modelyard" / "uploads"


class Uploader:
    def __init__(self, plan: UploadPlan, *, console: Console | None = None) -> None:
        self.plan = plan
        self.console = console or Console(stderr=True)
        self.client = httpx.Client(
            base_url=plan.server.rstrip("/"),
            headers={"Authorization": f"Bearer {plan.api_key}"},
            timeout=plan.timeout,
        )
        self.size = plan.path.stat().st_size
        self._state_file = (plan.state_dir or default_state_dir()) / f"{self._identity()}.json"

    def run(self) -> dict[str, Any]:
        """Upload (or resume) and wait for the verification: the upload's final state, with the file."""
        if self.size == 0:
            raise UploadError(f"{self.plan.path} is empty")
        try:
            upload = self._resume_or_start()
            if upload["status"] == "Uploading":
                sha256 = self._send_parts(upload)
                upload = self._call("POST", f"/api/uploads/{upload['id']}/complete", json={"sha256": sha256})
            upload = self._wait_for_verification(upload)
        finally:
            self.client.close()
        if upload["status"] != "Complete":
            self._forget()
            raise UploadError(f"The server refused the file: {upload.get('error') or upload['status']}")
        self._forget()
        return upload

    # --- the upload's record ---------------------------------------------------------------------------------
    def _identity(self) -> str:
        stat = self.plan.path.stat()
        key = f"{self.plan.server}|{self.plan.version_id}|{self.plan.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def _resume_or_start(self) -> dict[str, Any]:
        if self._state_file.exists():
            upload_id = json.loads(self._state_file.read_text())["upload_id"]
            try:
                upload = self._call("GET", f"/api/uploads/{upload_id}")
            except UploadError:
                upload = None
            if upload is not None and upload["status"] in ("Uploading", "Verifying", "Complete"):
                self.console.print(f"Resuming upload {upload_id}: {len(upload['parts'])} parts already on the server")
                return upload
        body: dict[str, Any] = {"filename": self.plan.path.name, "size": self.size, "type": self.plan.file_type}
        if self.plan.part_size:
            body["part_size"] = self.plan.part_size
        upload = self._call("POST", f"/api/model-versions/{self.plan.version_id}/uploads", json=body)
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(json.dumps({"upload_id": upload["id"], "path": str(self.plan.path)}))
        return upload

    def _forget(self) -> None:
        self._state_file.unlink(missing_ok=True)

    # --- parts -------------------------------------------------------------------------------------------------
    def _send_parts(self, upload: dict[str, Any]) -> str:
        have = {part["part_number"]: part["size"] for part in upload["parts"]}
        size_of = upload["part_size"]
        digest = hashlib.sha256()
        urls: dict[int, str] = {}
        with self._progress() as progress, self.plan.path.open("rb") as source:
            task = progress.add_task(self.plan.path.name, total=self.size)
            for number in range(1, upload["part_count"] + 1):
                offset = (number - 1) * size_of
                length = min(size_of, self.size - offset)
                if have.get(number) == length:
                    _read_into(source, offset, length, digest.update)  # hashed, not sent again
                    progress.advance(task, length)
                    continue
                if number not in urls:
                    urls = self._part_urls(upload, number)
                digest = self._send_part(upload, number, urls, source, (offset, length), digest, progress, task)
        return digest.hexdigest()

    def _part_urls(self, upload: dict[str, Any], first: int) -> dict[int, str]:
        wanted = list(range(first, min(first + URL_BATCH, upload["part_count"] + 1)))
        answer = self._call("POST", f"/api/uploads/{upload['id']}/part-urls", json={"parts": wanted})
        # Paths are on the server itself; a bucket's URLs are absolute.
        return {item["part_number"]: urljoin(self.plan.server + "/", item["url"]) for item in answer["urls"]}

    def _send_part(
        self,
        upload: dict[str, Any],
        number: int,
        urls: dict[int, str],
        source: BinaryIO,
        span: tuple[int, int],
        digest: Any,
        progress: Progress,
        task: Any,
    ) -> Any:
        """PUT one part, retrying; returns `digest` carried past the part's bytes."""
        length = span[1]
        for attempt in range(self.plan.retries + 1):
            body = _PartBody(source, span, digest.copy(), lambda n: progress.advance(task, n))
            try:
                response = httpx.put(
                    urls[number], content=iter(body), headers={"Content-Length": str(length)}, timeout=self.plan.timeout
                )
                if response.status_code == 200 and body.sent == length:
                    return body.digest
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            progress.advance(task, -body.sent)
            if attempt == self.plan.retries:
                raise UploadError(f"Part {number} failed {attempt + 1} times ({problem}); run the command again")
            wait = min(30.0, 0.5 * 2**attempt)
            self.console.print(f"Part {number}: {problem}; retrying in {wait:.0f} s")
            time.sleep(wait)
            # Fresh URLs: the old one may have expired, or pointed at a server that has restarted since.
            urls.update(self._part_urls(upload, number))
        raise AssertionError("unreachable")

    # --- verification --------------------------------------------------------------------------------------------
    def _wait_for_verification(self, upload: dict[str, Any]) -> dict[str, Any]:
        with self.console.status("The server is joining, hashing and inspecting the file…"):
            while upload["status"] == "Verifying":
                time.sleep(1)
                upload = self._call("GET", f"/api/uploads/{upload['id']}")
        return upload

    # --- HTTP ------------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._retrying(lambda: self.client.request(method, path, **kwargs))
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise UploadError(f"{method} {path}: HTTP {response.status_code}: {detail}")
        result: dict[str, Any] = response.json()
        return result

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """Retry what fails because the link or the server is down (connection errors, 502/503/504)."""
        for attempt in range(self.plan.retries + 1):
            try:
                response = call()
                if not (isinstance(response, httpx.Response) and response.status_code in (502, 503, 504)):
                    return response
                problem = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}"
            if attempt == self.plan.retries:
                raise UploadError(f"The server is unreachable ({problem}); run the command again to resume")
            wait = min(30.0, 0.5 * 2**attempt)
            self.console.print(f"Server unreachable ({problem}); retrying in {wait:.0f} s")
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _progress(self) -> Progress:
        return Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
        )


def _chunks(source: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    source.seek(offset)
    remaining = length
    while remaining:
        chunk = source.read(min(READ_CHUNK, remaining))
        if not chunk:
            raise UploadError("The file shrank while it was being uploaded")
        remaining -= len(chunk)
        yield chunk


def _read_into(source: BinaryIO, offset: int, length: int, sink: Callable[[bytes], Any]) -> None:
    for chunk in _chunks(source, offset, length):
        sink(chunk)


class _PartBody:
    """A part's bytes streamed from the file, hashed and counted as they go out."""

    def __init__(self, source: BinaryIO, span: tuple[int, int], digest: Any, advance: Callable[[int], Any]) -> None:
        self.source, self.span, self.digest, self.advance = source, span, digest, advance
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in _chunks(self.source, *self.span):
            self.digest.update(chunk)
            self.sent += len(chunk)
            self.advance(len(chunk))
            yield chunk

"""Driving resumable uploads from tests: sending parts where the server's signed URLs point (the app itself
with local storage, the S3 server when scaled out), and running the verification job as a worker would."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select

from modelyard.catalog.files.safetensors import encode
from modelyard.core.jobs.consumer import JobWorker
from modelyard.core.jobs.models import Job, JobStatus
from modelyard.core.jobs.runner import execute
from modelyard.core.runtime import Runtime

MIB = 1024 * 1024
PART = 5 * MIB  # the smallest part S3 takes


def big_safetensors(size: int) -> bytes:
    """A valid safetensors file of about `size` bytes: one F16 tensor of random values."""
    count = max(1, (size - 128) // 2)
    return encode({"weight": ("F16", [count], os.urandom(count * 2))})


def start(client: TestClient, version_id: int, headers: dict[str, str], data: bytes, **extra: Any) -> httpx.Response:
    body = {"filename": "model.safetensors", "size": len(data), "part_size": PART, **extra}
    return client.post(f"/api/model-versions/{version_id}/uploads", json=body, headers=headers)


def put_part(client: TestClient, url: str, data: bytes) -> httpx.Response:
    if url.startswith("/"):  # the app's own /files URL
        return client.put(url, content=data)
    return httpx.put(url, content=data, timeout=60)


def send_parts(
    client: TestClient, upload: dict[str, Any], headers: dict[str, str], data: bytes, numbers: list[int]
) -> None:
    response = client.post(f"/api/uploads/{upload['id']}/part-urls", json={"parts": numbers}, headers=headers)
    assert response.status_code == 200, response.text
    size = upload["part_size"]
    for item in response.json()["urls"]:
        number = item["part_number"]
        chunk = data[(number - 1) * size : number * size]
        assert len(chunk) == item["size"]
        sent = put_part(client, item["url"], chunk)
        assert sent.status_code == 200, sent.text
        assert sent.headers.get("etag")


def run_verification(runtime: Runtime) -> int:
    """Run every queued upload verification now; how many ran."""
    with runtime.db.session() as session:
        pending = session.scalars(
            select(Job.id).where(Job.name == "catalog.finish_upload", Job.status == JobStatus.pending)
        ).all()
    for job_id in pending:
        execute(runtime, job_id)
    return len(pending)


def upload_whole(
    client: TestClient, runtime: Runtime, version_id: int, headers: dict[str, str], data: bytes, **extra: Any
) -> dict[str, Any]:
    started = start(client, version_id, headers, data, **extra)
    assert started.status_code == 201, started.text
    upload = started.json()
    send_parts(client, upload, headers, data, list(range(1, upload["part_count"] + 1)))
    completed = client.post(f"/api/uploads/{upload['id']}/complete", json={}, headers=headers)
    assert completed.status_code == 202, completed.text
    run_verification(runtime)
    final: dict[str, Any] = client.get(f"/api/uploads/{upload['id']}", headers=headers).json()
    return final


@contextmanager
def running_jobs(runtime: Runtime) -> Iterator[None]:
    """Job consumer threads for the runtime, as `modelyard serve` runs them, while the block runs."""
    worker = JobWorker(runtime, threads=2)
    worker.start()
    try:
        yield
    finally:
        worker.stop()

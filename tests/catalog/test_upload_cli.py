"""`modelyard upload` against a real server process: a server killed mid-upload and a client killed mid-upload
both end in the one right file, sent once; the server's memory stays flat while hundreds of MiB go through."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.catalog.enums import UploadStatus
from modelyard.catalog.files.safetensors import encode
from modelyard.catalog.models import FileUpload, ModelFile
from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user
from tests.support.processes import ROOT, kill_hard, start_modelyard, stop, wait_http
from tests.support.services import free_port

MIB = 1024 * 1024
SIZE = 400 * MIB


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upload") / "big model.safetensors"
    count = (SIZE - 128) // 2
    path.write_bytes(encode({"weight": ("F16", [count], os.urandom(count * 2))}))
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict]:  # type: ignore[type-arg]
    port = free_port()
    env = {
        "MODELYARD_JOBS_IN_PROCESS": "true",
        "MODELYARD_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    state: dict = {"port": port, "env": env, "url": f"http://127.0.0.1:{port}", "processes": []}  # type: ignore[type-arg]
    state["start"] = lambda: _serve(state, tmp_path)
    state["start"]()
    yield state
    for process in state["processes"]:
        stop(process)


def _serve(state: dict, tmp_path: Path) -> subprocess.Popen[bytes]:  # type: ignore[type-arg]
    log = tmp_path / f"serve{len(state['processes'])}.log"
    process = start_modelyard(["serve", "--port", str(state["port"])], log, **state["env"])
    state["processes"].append(process)
    wait_http(f"{state['url']}/healthz")
    return process


def run_cli(server: dict, key: str, version_id: int, path: Path, state_dir: Path) -> subprocess.Popen[str]:  # type: ignore[type-arg]
    command = [sys.executable, "-m", "modelyard", "upload", str(path), "--version", str(version_id), "--part-size", "5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODELYARD_SERVER": server["url"], "MODELYARD_API_KEY": key}
    env["XDG_STATE_HOME"] = str(state_dir)
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def parts_received(runtime: Runtime, version_id: int) -> int:
    with runtime.db.session() as session:
        upload = session.scalar(select(FileUpload).where(FileUpload.model_version_id == version_id))
    if upload is None or upload.status != UploadStatus.Uploading:
        return 0
    try:
        return len(runtime.storage.list_parts(upload.storage_key, upload.multipart_id))
    except Exception:  # the multipart upload is being created this instant
        return 0


def wait_for_parts(runtime: Runtime, version_id: int, count: int) -> None:
    deadline = time.monotonic() + 60
    while parts_received(runtime, version_id) < count:
        assert time.monotonic() < deadline, "the upload never got going"
        time.sleep(0.01)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def assert_one_right_file(runtime: Runtime, version_id: int, path: Path, stdout: str) -> None:
    with runtime.db.session() as session:
        stored = session.scalars(select(ModelFile).where(ModelFile.model_version_id == version_id)).all()
        uploads = session.scalars(select(FileUpload).where(FileUpload.model_version_id == version_id)).all()
        assert [u.status for u in uploads] == [UploadStatus.Complete]  # one upload, resumed, never restarted
        assert len(stored) == 1 and stdout.strip() == str(stored[0].id)
        expected = hashlib.sha256(path.read_bytes()).hexdigest().upper()
        assert stored[0].hash_of("SHA256") == expected  # type: ignore[arg-type]
        assert stored[0].name == path.name and stored[0].size_bytes == path.stat().st_size


@pytest.fixture
def target(runtime: Runtime):  # type: ignore[no-untyped-def]
    owner = create_user(runtime)
    version_id = create_model(runtime, owner, with_files=False, with_post=False).version_ids[0]
    return create_api_key(runtime, owner), version_id


@pytest.mark.timeout(240)
def test_a_server_killed_mid_upload_is_waited_for_and_the_upload_resumes(
    runtime: Runtime,
    server: dict,
    target,
    model_file: Path,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    key, version_id = target
    client = run_cli(server, key, version_id, model_file, tmp_path / "state")
    wait_for_parts(runtime, version_id, 3)
    kill_hard(server["processes"][-1])
    time.sleep(1.5)  # the client meets a dead server and backs off
    server["start"]()
    stdout, stderr = client.communicate(timeout=180)
    assert client.returncode == 0, stderr
    assert "retrying" in stderr  # it did meet the dead server
    assert_one_right_file(runtime, version_id, model_file, stdout)


@pytest.mark.timeout(240)
def test_a_client_killed_mid_upload_resumes_from_the_parts_on_the_server_with_flat_server_memory(
    runtime: Runtime,
    server: dict,
    target,
    model_file: Path,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    key, version_id = target
    pid = server["processes"][-1].pid
    before = rss_kib(pid, "VmRSS")
    first = run_cli(server, key, version_id, model_file, tmp_path / "state")
    wait_for_parts(runtime, version_id, 3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    sent = parts_received(runtime, version_id)
    assert 3 <= sent < SIZE // (5 * MIB)

    second = run_cli(server, key, version_id, model_file, tmp_path / "state")
    stdout, stderr = second.communicate(timeout=180)
    assert second.returncode == 0, stderr
    assert "Resuming upload" in stderr and "parts already on the server" in stderr
    assert_one_right_file(runtime, version_id, model_file, stdout)
    growth_mib = (rss_kib(pid, "VmHWM") - before) / 1024
    assert growth_mib < 100, f"the server grew by {growth_mib:.0f} MiB while {SIZE // MIB} MiB went through it"

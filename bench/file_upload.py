"""A 5 GB resumable upload through `modelyard upload` into a real `modelyard serve` (embedded default: SQLite,
local files, in-process jobs): the server's memory while the bytes go through it, and the time against `cp`.

    python -m bench.file_upload [--quick]     (or through `python -m bench.run --only file_upload`)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.file_hashing import bench_file, warm_page_cache
from bench.harness import free_port, ratio

TITLE = "Resumable upload: a 5 GB file through `modelyard upload` into the embedded default"
BASELINE = "`cp` of the same file to the same disk (memory: the same server process, idle, before the upload)"
METHOD = (
    "A fresh data directory and a real `modelyard serve` (SQLite, local files, in-process job threads) on "
    "loopback. `modelyard upload FILE --version ID` sends the file in 32 MiB parts to the server's signed part "
    "URLs and asks it to verify; the time runs until the command exits, with the file joined, its six hashes "
    "computed and checked against the client's SHA-256, and the file recorded. The server's resident memory is "
    "sampled every 20 ms from /proc during the upload and compared with its idle size before it. The baseline "
    "copies the same file to the same disk with `cp` (no verification: the floor of moving the bytes once)."
)
NOTES = (
    "The upload writes every byte twice (the parts, then the joined file) and reads it twice (the join, then "
    "the verification's hashing), against `cp`'s one read and one write; with S3, the join is the bucket's and "
    "the bytes never pass through the web process."
)
MEMORY_LIMIT_MIB = 100
PASSWORD = "correct horse battery staple"
SIZE = 5 * 1024**3
QUICK_SIZE = 256 * 1024**2


def run(quick: bool) -> dict[str, Any]:
    size = QUICK_SIZE if quick else SIZE
    path = bench_file(size)
    warm_page_cache(path)
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-upload-") as scratch:
        workdir = Path(scratch)
        started = time.perf_counter()
        shutil.copyfile(path, workdir / "copy.bin")
        cp_seconds = time.perf_counter() - started
        (workdir / "copy.bin").unlink()
        with serve(workdir) as server:
            version_id = make_version(server)
            idle_kib = rss_kib(server["pid"])
            with sampling(server["pid"]) as peak:
                started = time.perf_counter()
                upload(server, path, version_id, workdir)
                upload_seconds = time.perf_counter() - started
            growth_mib = (peak[0] - idle_kib) / 1024
    ratios = [
        ratio("seconds vs cp", upload_seconds, cp_seconds, higher_is_better=False),
        ratio("peak server RSS vs idle (MiB)", peak[0] / 1024, idle_kib / 1024, higher_is_better=False),
    ]
    return {
        "title": TITLE,
        "baseline": BASELINE,
        "method": METHOD,
        "config": {"file size (bytes)": size, "part size (MiB)": 32, "memory limit (MiB)": MEMORY_LIMIT_MIB},
        "cases": [
            {
                "name": f"{size / 1024**3:g} GiB file",
                "ratios": [r.as_dict() for r in ratios],
                "checks": [
                    {
                        "check": f"server RSS grew by {growth_mib:.0f} MiB (limit {MEMORY_LIMIT_MIB} MiB)",
                        "passed": growth_mib < MEMORY_LIMIT_MIB,
                    }
                ],
                "raw": {
                    "upload_seconds": round(upload_seconds, 2),
                    "cp_seconds": round(cp_seconds, 2),
                    "upload_mb_per_second": round(size / upload_seconds / 1e6),
                    "idle_rss_mib": round(idle_kib / 1024),
                    "peak_rss_mib": round(peak[0] / 1024),
                },
            }
        ],
        "notes": NOTES,
    }


@contextmanager
def serve(workdir: Path) -> Iterator[dict[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "MODELYARD_DATA_DIR": str(workdir / "data"),
        "MODELYARD_PUBLIC_BASE_URL": url,
        "MODELYARD_JOBS_IN_PROCESS": "true",
        "MODELYARD_LOG_LEVEL": "WARNING",
    }
    for name in ("MODELYARD_DATABASE_URL", "MODELYARD_REDIS_URL", "MODELYARD_STORAGE_BACKEND"):
        env.pop(name, None)
    command = [sys.executable, "-m", "modelyard"]
    subprocess.run([*command, "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [*command, "user", "create", "bench", "--email", "bench@example.com", "--password", PASSWORD],
        env=env,
        check=True,
        capture_output=True,
    )
    key = subprocess.run(
        [*command, "apikey", "create", "bench", "--name", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen([*command, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"modelyard serve did not start; see {workdir / 'serve.log'}")
            time.sleep(0.1)
        yield {"url": url, "key": key, "pid": process.pid, "env": env}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def make_version(server: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {server['key']}"}
    with httpx.Client(base_url=server["url"], headers=headers, timeout=30) as client:
        model = client.post("/api/models", json={"name": "Bench upload", "type": "Checkpoint"})
        model.raise_for_status()
        version = client.post(
            f"/api/models/{model.json()['id']}/versions", json={"name": "v1", "base_model": "SDXL 1.0"}
        )
        version.raise_for_status()
        return int(version.json()["id"])


def upload(server: dict[str, Any], path: Path, version_id: int, workdir: Path) -> None:
    env = {**server["env"], "MODELYARD_SERVER": server["url"], "MODELYARD_API_KEY": server["key"]}
    env["XDG_STATE_HOME"] = str(workdir / "state")
    command = [sys.executable, "-m", "modelyard", "upload", str(path), "--version", str(version_id)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the upload failed: {done.stderr[-2000:]}")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


@contextmanager
def sampling(pid: int) -> Iterator[list[int]]:
    """The process's highest resident size seen while the block runs (KiB), in a one-item list."""
    peak = [rss_kib(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], rss_kib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        stop.set()
        sampler.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 256 MiB file")
    options = parser.parse_args()
    json.dump(run(options.quick), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

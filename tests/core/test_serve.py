"""`modelyard serve` as a user starts it: real processes on a real port."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from modelyard.core.runtime import Runtime
from tests.support.processes import start_modelyard, stop, wait_http
from tests.support.services import free_port


def test_metrics_add_up_across_web_processes(runtime: Runtime, tmp_path: Path) -> None:
    port = free_port()
    server = start_modelyard(["serve", "--port", str(port), "--processes", "2"], tmp_path / "serve.log")
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz")
        for _ in range(30):
            with httpx.Client() as client:  # a new connection each time, so both processes take some
                assert client.get(f"{base}/api/users/nobody").status_code == 404
        totals = set()
        for _ in range(8):
            with httpx.Client() as client:
                text = client.get(f"{base}/metrics").text
            match = re.search(r'route="/api/users/\{username\}",status="404"\} (\S+)', text)
            assert match, text[:2000]
            totals.add(float(match.group(1)))
        assert totals == {30.0}
        samples = list((runtime.settings.data_dir / "metrics").glob("*.db"))
        assert len({re.sub(r"\D", "", path.stem) for path in samples}) >= 2  # files of both processes
    finally:
        stop(server)

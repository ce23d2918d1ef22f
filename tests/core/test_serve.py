"""`modelyard serve` as a user starts it: real processes on a real port."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from modelyard.core.runtime import Runtime
from tests.support.catalog import create_model
from tests.support.factories import METRICS_HEADERS, create_api_key, create_user
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
                text = client.get(f"{base}/metrics", headers=METRICS_HEADERS).text
            match = re.search(r'route="/api/users/\{username\}",status="404"\} (\S+)', text)
            assert match, text[:2000]
            totals.add(float(match.group(1)))
        assert totals == {30.0}
        samples = list((runtime.settings.data_dir / "metrics").glob("*.db"))
        assert len({re.sub(r"\D", "", path.stem) for path in samples}) >= 2  # files of both processes
    finally:
        stop(server)


def test_an_unpublished_model_leaves_every_web_process_at_once(runtime: Runtime, tmp_path: Path) -> None:
    """Each web process keeps its own cached pages; a change made through one must reach the others at once,
    with or without Redis (without it, over the local channel of modelyard.core.localbus)."""
    owner = create_user(runtime)
    model = create_model(runtime, owner, published=True)
    key = create_api_key(runtime, owner)
    port = free_port()
    server = start_modelyard(["serve", "--port", str(port), "--processes", "2"], tmp_path / "serve.log")
    base = f"http://127.0.0.1:{port}"

    def listed() -> bool:
        with httpx.Client() as client:  # a new connection each time, so both processes answer some
            items = client.get(f"{base}/api/v1/models", params={"limit": 100}).json()["items"]
        return any(item["id"] == model.id for item in items)

    try:
        wait_http(f"{base}/healthz")
        assert all(listed() for _ in range(30))  # both processes now hold the page
        unpublished = httpx.post(
            f"{base}/api/models/{model.id}/unpublish",
            json={},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert unpublished.status_code == 200, unpublished.text
        time.sleep(0.5)  # the message crosses to the other process in well under a millisecond
        assert [listed() for _ in range(30)] == [False] * 30
    finally:
        stop(server)

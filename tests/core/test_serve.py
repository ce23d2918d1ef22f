"""`modelyard serve` as a user starts it: real processes on a real port."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from modelyard.catalog.demo import demo_password, load_demo
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


def test_start_up_ends_with_the_demo_credentials_above_the_request_log(runtime: Runtime, tmp_path: Path) -> None:
    """Whoever ran `make run` finds how to log in right above the request log, long after `modelyard demo`
    printed it. Its log goes to a file here, so it is JSON (`MODELYARD_LOG_FORMAT=auto`)."""
    load_demo(runtime)
    port = free_port()
    log_path = tmp_path / "serve.log"
    server = start_modelyard(["serve", "--port", str(port)], log_path, MODELYARD_LOG_FORMAT="auto")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        httpx.get(f"http://127.0.0.1:{port}/models")
    finally:
        stop(server)
    entries = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    messages = [entry["message"] for entry in entries]
    started = messages.index("modelyard started")
    demo = next(n for n, message in enumerate(messages) if message.startswith("Demo accounts: demo-admin"))
    first_request = next(n for n, entry in enumerate(entries) if entry["logger"] == "modelyard.access")
    assert started < demo < first_request
    assert f"Their password: {demo_password(runtime.settings)}" in messages[demo]


def test_without_the_demo_start_up_says_nothing_of_it(runtime: Runtime, tmp_path: Path) -> None:
    create_user(runtime, username="demo-admin")  # the name alone is not the demo
    port = free_port()
    log_path = tmp_path / "serve.log"
    server = start_modelyard(["serve", "--port", str(port)], log_path, MODELYARD_LOG_FORMAT="console")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
    finally:
        stop(server)
    text = log_path.read_text()
    assert "modelyard started" in text and "Demo accounts" not in text

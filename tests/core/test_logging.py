"""Log format: readable lines on a terminal, one JSON object per line otherwise (a file, a pipe, a log collector),
and `MODELYARD_LOG_FORMAT` overriding either. Each case is a real process whose standard error is a real
terminal (a pseudo-terminal) or a pipe."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What every command of the `modelyard` CLI does: the settings decide, then one line is logged.
SCRIPT = (
    "import logging\n"
    "from modelyard.core.logging import configure_logging\n"
    "from modelyard.core.settings import Settings\n"
    "settings = Settings()\n"
    "configure_logging(settings.log_level, settings.log_format)\n"
    "logging.getLogger('modelyard').info('modelyard started', extra={'version': 'x'})\n"
)


def logged(log_format: str | None, *, terminal: bool) -> str:
    env = {key: value for key, value in os.environ.items() if key != "MODELYARD_LOG_FORMAT"}
    if log_format is not None:
        env["MODELYARD_LOG_FORMAT"] = log_format
    if not terminal:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stderr.strip()
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(
            [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, stderr=follower, stdout=subprocess.DEVNULL, timeout=60
        )
        assert process.returncode == 0
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal's other end is closed: everything is read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks).decode().strip()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)


def is_json(line: str) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:
        return False
    return entry["message"] == "modelyard started" and entry["version"] == "x"


def is_readable(line: str) -> bool:
    return line.endswith("INFO    modelyard: modelyard started") and not line.startswith("{")


@pytest.mark.parametrize(
    ("log_format", "terminal", "expected"),
    [
        (None, True, "readable"),  # a person at a terminal, by default
        (None, False, "json"),  # a file or a log collector, by default
        ("auto", True, "readable"),
        ("json", True, "json"),  # the setting overrides what the output is
        ("console", False, "readable"),
    ],
)
def test_the_log_format_suits_where_the_logs_go(log_format: str | None, terminal: bool, expected: str) -> None:
    line = logged(log_format, terminal=terminal)
    assert is_json(line) if expected == "json" else is_readable(line), line

"""A real nginx in front of a test app, the way a self-hoster runs it: `/files/...` is proxied to the app, and
the app hands checked downloads back with `X-Accel-Redirect` to an `internal` location aliasing the storage.

Debian's `nginx-light` provides `/usr/sbin/nginx`; `scripts/ensure-system-packages.sh` installs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import stop, wait_started

NGINX = Path("/usr/sbin/nginx")
MISSING = f"{NGINX} is missing: run scripts/ensure-system-packages.sh as root (Debian package nginx-light)"


@dataclass
class NginxProcess:
    process: subprocess.Popen[bytes]
    port: int
    error_log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop(self.process)


def start_nginx(directory: Path, *, upstream: str, protected_prefix: str, storage_dir: Path) -> NginxProcess:
    """nginx in the foreground on a free port: `protected_prefix` is internal and serves `storage_dir`,
    everything else goes to `upstream` (`http://127.0.0.1:port`). Skips when nginx is not installed."""
    if not os.access(NGINX, os.X_OK):
        pytest.skip(MISSING)
    port = _free_port()
    temp = directory / "temp"
    temp.mkdir()
    error_log = directory / "error.log"
    config = directory / "nginx.conf"
    config.write_text(f"""
daemon off;
master_process off;
pid {directory}/nginx.pid;
error_log {error_log} warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location {protected_prefix} {{
            internal;
            alias {storage_dir}/;
        }}
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $http_host;
        }}
    }}
}}
""")
    process = subprocess.Popen(
        [str(NGINX), "-c", str(config), "-p", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    wait_started(process, lambda: _accepts(port), name="nginx", log_path=error_log, timeout=15)
    return NginxProcess(process, port, error_log)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False

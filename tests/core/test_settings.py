from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from modelyard.core.settings import MASK, Settings, describe_settings, mask_url, settings_markdown_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_modelyard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about defaults; the suite's own MODELYARD_* variables must not leak in."""
    import os

    for name in [n for n in os.environ if n.startswith("MODELYARD_")]:
        monkeypatch.delenv(name)


def test_embedded_default_needs_no_setting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'modelyard.sqlite3').resolve()}"
    assert settings.storage_backend == "local"
    assert settings.effective_storage_dir == (tmp_path / "files").resolve()
    assert settings.run_jobs_in_process is True


def test_redis_moves_jobs_out_of_the_web_process(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0").run_jobs_in_process is False


def test_every_setting_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODELYARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MODELYARD_PORT", "9123")
    monkeypatch.setenv("MODELYARD_EXTRA_MODULES", "a.b, c.d")
    settings = Settings()
    assert settings.port == 9123
    assert settings.extra_modules == ["a.b", "c.d"]


def test_every_setting_has_a_description() -> None:
    assert all(field.description for field in Settings.model_fields.values())


def test_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).secret
    second = Settings(data_dir=tmp_path).secret
    assert first == second and len(first) >= 48
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_configured_secret_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key=SecretStr("s3cr3t")).secret == "s3cr3t"
    assert not (tmp_path / "secret_key").exists()


def test_invalid_value_is_refused_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_PORT", "eighty")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_described_settings_mask_secrets_and_url_passwords(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://app:hunter2@db:5432/modelyard",
        redis_url="redis://:pa55@cache:6379/0",
        s3_secret_access_key=SecretStr("abc"),
    )
    text = "\n".join(f"{name}={value}" for name, value, _ in describe_settings(settings))
    for secret in ("hunter2", "pa55", "abc"):
        assert f"{secret}@" not in text and f"={secret}" not in text
    assert f"app:{MASK}@db" in text
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- settings-table:start -->") + len("<!-- settings-table:start -->")
    end = readme.index("<!-- settings-table:end -->")
    assert readme[start:end].strip() == settings_markdown_table().strip(), (
        "README settings table is stale: regenerate it with `python scripts/update-readme-settings.py`"
    )


def test_data_directory_is_private_to_its_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    _ = Settings(data_dir=data_dir).secret
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700


def test_links_made_outside_a_request_point_at_this_server_unless_a_public_url_is_set(tmp_path: Path) -> None:
    """E-mails and the demo's log-in link have no request to take an address from: they use the public URL when
    one is set, else the address this server listens on (a wildcard address is visited as localhost)."""
    assert Settings(data_dir=tmp_path, port=8765).site_url == "http://127.0.0.1:8765"
    assert Settings(data_dir=tmp_path, host="0.0.0.0", port=9000).site_url == "http://127.0.0.1:9000"
    assert Settings(data_dir=tmp_path, host="::1", port=9000).site_url == "http://[::1]:9000"
    configured = Settings(data_dir=tmp_path, port=8765, public_base_url="https://models.example.org/")
    assert configured.site_url == "https://models.example.org"

"""The administration area's JSON API: dead jobs (administrators only). The users' API: tests/accounts."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from modelyard.accounts.models import Role
from modelyard.core.jobs import Job, JobStatus
from modelyard.core.runtime import Runtime
from tests.accounts.test_moderation import bearer
from tests.support.factories import create_api_key, create_dead_job, create_user


def test_admin_can_list_and_requeue_dead_jobs(client: TestClient, runtime: Runtime, tmp_path: Path) -> None:
    job_id = create_dead_job(runtime, tmp_path)
    admin_key = create_api_key(runtime, create_user(runtime, role=Role.admin))
    dead = client.get("/api/admin/jobs/dead", headers=bearer(admin_key)).json()
    assert [d["job_id"] for d in dead] == [job_id] and "flag file" in dead[0]["error"]
    assert client.post(f"/api/admin/jobs/{job_id}/requeue", headers=bearer(admin_key)).json()["status"] == "pending"
    with runtime.db.session() as session:
        assert session.get(Job, job_id).status == JobStatus.pending  # type: ignore[union-attr]
    moderator_key = create_api_key(runtime, create_user(runtime, role=Role.moderator))
    assert client.get("/api/admin/jobs/dead", headers=bearer(moderator_key)).status_code == 403

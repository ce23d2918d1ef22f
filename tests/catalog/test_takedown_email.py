"""An owner whose model (or version) is taken down for a violation, a legal request or a failed scan is e-mailed
the moderator's reason and message; the e-mail is queued in the take-down's own transaction (`mail.send_email`),
so a take-down that rolls back sends nothing. Unpublishing of their own accord sends nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from modelyard.accounts.models import Role, User
from modelyard.catalog.enums import UnpublishKind
from modelyard.catalog.lifecycle import transitions as lifecycle
from modelyard.catalog.models import Model, ModelFile
from modelyard.core.jobs import Job
from modelyard.core.jobs.runner import execute
from modelyard.core.runtime import Runtime
from modelyard.mail.models import EmailStatus, OutgoingEmail
from tests.support.catalog import create_model
from tests.support.factories import create_api_key, create_user


@pytest.fixture
def people(runtime: Runtime) -> dict[str, Any]:
    owner = create_user(runtime, username="painter")
    mod = create_user(runtime, role=Role.moderator)
    return {
        "owner": owner,
        "owner_key": {"Authorization": f"Bearer {create_api_key(runtime, owner)}"},
        "mod_key": {"Authorization": f"Bearer {create_api_key(runtime, mod)}"},
    }


def emails(runtime: Runtime) -> list[OutgoingEmail]:
    with runtime.db.session() as session:
        rows = session.scalars(select(OutgoingEmail).order_by(OutgoingEmail.id)).all()
        session.expunge_all()
        return list(rows)


def deliver_jobs(runtime: Runtime) -> list[int]:
    with runtime.db.session() as session:
        return list(session.scalars(select(Job.id).where(Job.name == "mail.deliver")))


def test_a_violation_emails_the_owner_the_moderators_message(client, runtime, people):
    made = create_model(runtime, people["owner"], name="Ink Wash", published=True)
    body = {"kind": "violation", "reason": "Impersonation", "custom_message": "Remove the likeness and write to us."}
    response = client.post(f"/api/models/{made.id}/unpublish", json=body, headers=people["mod_key"])
    assert response.status_code == 200, response.text
    (email,) = emails(runtime)
    assert email.to == people["owner"].email
    assert email.subject == '"Ink Wash" was unpublished by a moderator'
    assert "for a violation of the site's rules" in email.body
    assert "Reason: Impersonation" in email.body
    assert "Message from the moderator:\nRemove the likeness and write to us." in email.body
    assert f"http://testserver/models/{made.id}" in email.body
    # Sent through the mail queue once the take-down committed, like every e-mail.
    (job_id,) = deliver_jobs(runtime)
    execute(runtime, job_id)
    assert emails(runtime)[0].status == EmailStatus.logged  # no SMTP server in the tests: logged for admins


def test_a_legal_request_on_one_version_names_the_version(client, runtime, people):
    made = create_model(runtime, people["owner"], name="Ink Wash", versions=2, published=True)
    body = {"kind": "legal", "reason": "DMCA notice 2026-7"}
    version_id = made.version_ids[0]
    response = client.post(f"/api/model-versions/{version_id}/unpublish", json=body, headers=people["mod_key"])
    assert response.status_code == 200, response.text
    (email,) = emails(runtime)
    assert 'the version "v1" of your model "Ink Wash"' in email.body and "legal request" in email.body
    assert "Reason: DMCA notice 2026-7" in email.body and "Message from the moderator" not in email.body
    assert f"modelVersionId={version_id}" in email.body


def test_a_failed_scan_emails_the_owner(runtime, people):
    from modelyard.catalog.lifecycle.triggers import unpublish_for_failed_scan

    made = create_model(runtime, people["owner"], published=True)
    with runtime.db.transaction() as session:
        file = session.get(ModelFile, made.file_ids[0])
        assert file is not None
        unpublish_for_failed_scan(session, file, reason="Eicar-Test-Signature")
    (email,) = emails(runtime)
    assert "failed its security scan" in email.body and "Eicar-Test-Signature" in email.body


def test_unpublishing_ones_own_model_sends_nothing(client, runtime, people):
    made = create_model(runtime, people["owner"], published=True)
    assert client.post(f"/api/models/{made.id}/unpublish", json={}, headers=people["owner_key"]).status_code == 200
    assert emails(runtime) == [] and deliver_jobs(runtime) == []


def test_a_take_down_that_rolls_back_sends_nothing(runtime, people):
    made = create_model(runtime, people["owner"], published=True)
    with pytest.raises(RuntimeError), runtime.db.transaction() as session:
        model = session.get(Model, made.id)
        assert model is not None
        lifecycle.unpublish_model(session, model, None, kind=UnpublishKind.violation, reason="Spam")
        assert len(session.scalars(select(OutgoingEmail)).all()) == 1  # queued in this transaction
        raise RuntimeError("the request failed after the take-down")
    assert emails(runtime) == [] and deliver_jobs(runtime) == []
    with runtime.db.session() as session:
        owner = session.get(User, people["owner"].id)
        assert owner is not None and session.get(Model, made.id).status.value == "Published"  # type: ignore[union-attr]

"""Reports and cases: repeated reports of one thing are one case; a reporter reports only what they can see and
not their own things, once per case, and a flood from one account stops at the hourly limit."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from modelyard.accounts.models import User
from modelyard.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from modelyard.core.runtime import Runtime
from modelyard.moderation.models import Report, ReportEntry, ReportReason, ReportStatus
from modelyard.moderation.reports import file_report
from tests.moderation.world import case, configure, picture, report
from tests.support.catalog import create_model
from tests.support.factories import create_user, log_in


def test_repeated_reports_of_one_thing_are_one_case(runtime: Runtime) -> None:
    owner, first, second = create_user(runtime), create_user(runtime), create_user(runtime)
    image_id = picture(runtime, owner)
    one = report(runtime, first, "image", image_id, ReportReason.NSFW, "rated too low")
    two = report(runtime, second, "image", image_id, ReportReason.TOSViolation)
    assert one == two
    found = case(runtime, one)
    assert (found.report_count, found.status, found.owner_id) == (2, ReportStatus.Pending, owner.id)
    assert found.reason == ReportReason.NSFW  # the first reporter's
    with runtime.db.session() as session:
        reasons = session.scalars(select(ReportEntry.reason).where(ReportEntry.report_id == one)).all()
    assert sorted(reasons) == [ReportReason.NSFW, ReportReason.TOSViolation]


def test_one_report_per_reporter_per_open_case(runtime: Runtime) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    image_id = picture(runtime, owner)
    report(runtime, reporter, "image", image_id)
    with pytest.raises(Conflict):
        report(runtime, reporter, "image", image_id, ReportReason.Spam)
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ReportEntry)) == 1


def test_a_reporter_cannot_report_what_they_cannot_see(runtime: Runtime) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    draft = create_model(runtime, owner)  # a draft: only its owner and moderators see it
    hidden_image = picture(runtime, owner, published=False)
    for entity_type, entity_id in [
        ("model", draft.id),
        ("version", draft.version_ids[0]),
        ("image", hidden_image),
        ("post", 10**6),
        ("user", 10**6),
        ("comment", 1),  # no such reportable type (yet)
    ]:
        with pytest.raises(NotFound):
            report(runtime, reporter, entity_type, entity_id)
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0


def test_nobody_reports_their_own_things(runtime: Runtime) -> None:
    owner = create_user(runtime)
    made = create_model(runtime, owner, published=True)
    for entity_type, entity_id in [("model", made.id), ("user", owner.id), ("image", picture(runtime, owner))]:
        with pytest.raises(Forbidden):
            report(runtime, owner, entity_type, entity_id)


def test_bad_reports_change_nothing(runtime: Runtime) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    image_id = picture(runtime, owner)
    with pytest.raises(ValidationFailed):
        report(runtime, reporter, "image", image_id, ReportReason.Automated)
    with pytest.raises(ValidationFailed):
        report(runtime, reporter, "image", image_id, details="a\x00b")
    with pytest.raises(ValidationFailed):
        report(runtime, reporter, "image", image_id, details="x" * 2001)
    with pytest.raises(NotFound):
        report(runtime, reporter, "image", 2**40)
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0


def test_a_closed_case_lets_the_thing_be_reported_again(runtime: Runtime) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    image_id = picture(runtime, owner)
    first = report(runtime, reporter, "image", image_id)
    with runtime.db.transaction() as session:
        closed = session.get(Report, first)
        assert closed is not None
        closed.status = ReportStatus.Unactioned
    second = report(runtime, reporter, "image", image_id)
    assert second != first


def test_two_first_reports_at_once_make_one_case(runtime: Runtime) -> None:
    owner = create_user(runtime)
    reporters = [create_user(runtime) for _ in range(4)]
    image_id = picture(runtime, owner)
    barrier = threading.Barrier(len(reporters))
    cases: list[int] = []
    errors: list[BaseException] = []

    def file(index: int) -> None:
        try:
            barrier.wait()
            cases.append(report(runtime, reporters[index], "image", image_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=file, args=(n,)) for n in range(len(reporters))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(cases)) == 1
    assert case(runtime, cases[0]).report_count == len(reporters)


# --- through the API --------------------------------------------------------------------------------------------


def test_report_api_and_my_reports(runtime: Runtime, client: TestClient) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    made = create_model(runtime, owner, published=True)
    log_in(client, reporter)
    body = {"entity_type": "model", "entity_id": made.id, "reason": "Ownership", "details": "my LoRA"}
    filed = client.post("/api/reports", json=body)
    assert filed.status_code == 201, filed.text
    assert filed.json()["status"] == "Pending"
    again = client.post("/api/reports", json=body)
    assert again.status_code == 409
    mine = client.get("/api/reports/mine").json()
    assert [item["entity_id"] for item in mine["items"]] == [made.id]
    assert client.get(f"/api/reports/{filed.json()['id']}").json()["reason"] == "Ownership"


def test_report_api_refuses_bad_input(runtime: Runtime, client: TestClient) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    image_id = picture(runtime, owner)
    log_in(client, reporter)
    for body in [
        {"entity_type": "image", "entity_id": 2**31, "reason": "Spam"},
        {"entity_type": "image", "entity_id": image_id, "reason": "Nope"},
        {"entity_type": "Image; DROP", "entity_id": image_id, "reason": "Spam"},
        {"entity_type": "image", "entity_id": image_id, "reason": "Spam", "details": "x" * 5000},
    ]:
        assert client.post("/api/reports", json=body).status_code == 422, body
    assert (
        client.post("/api/reports", json={"entity_type": "image", "entity_id": 99999, "reason": "Spam"}).status_code
        == 404
    )


def test_anonymous_visitors_cannot_report(runtime: Runtime, client: TestClient) -> None:
    owner = create_user(runtime)
    image_id = picture(runtime, owner)
    response = client.post("/api/reports", json={"entity_type": "image", "entity_id": image_id, "reason": "Spam"})
    assert response.status_code in (401, 403)


def test_a_report_flood_from_one_account_stops_at_the_limit(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(monkeypatch, runtime, reports_per_hour=5)
    owner, flooder, other = create_user(runtime), create_user(runtime), create_user(runtime)
    images = [picture(runtime, owner) for _ in range(8)]
    log_in(client, flooder)
    answers = [
        client.post("/api/reports", json={"entity_type": "image", "entity_id": i, "reason": "Spam"}) for i in images
    ]
    assert [answer.status_code for answer in answers] == [201] * 5 + [429] * 3
    assert int(answers[-1].headers["Retry-After"]) > 3000  # the hour's oldest report has to age out
    with runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ReportEntry)) == 5
    # Another account is not limited by the flooder.
    with runtime.db.transaction() as session:
        user = session.get(User, other.id)
        assert user is not None
        file_report(session, user, "image", images[-1], ReportReason.Spam, None)

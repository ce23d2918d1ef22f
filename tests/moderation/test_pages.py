"""The moderation pages without JavaScript: the report page and its form, My reports, the dashboard with its
queues, claim and act forms, a case page, a review item, the log, and the appeal form."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from modelyard.accounts.models import Role
from modelyard.core.runtime import Runtime
from modelyard.moderation.models import ReportStatus, ReviewQueue
from modelyard.moderation.queues import open_review
from tests.moderation.world import case, picture, report
from tests.support.catalog import create_model
from tests.support.factories import create_user, log_in


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_report_page_files_a_report_without_javascript(runtime: Runtime, client: TestClient) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    made = create_model(runtime, owner, name="Pretty LoRA", published=True)
    assert client.get(f"/report?type=model&id={made.id}", follow_redirects=False).status_code == 303  # log in first
    log_in(client, reporter)
    form = client.get(f"/report?type=model&id={made.id}")
    assert form.status_code == 200 and "Pretty LoRA" in form.text and 'value="Ownership"' in form.text
    fields = {"csrf_token": csrf(form.text), "entity_type": "model", "entity_id": str(made.id), "details": "x"}
    refused = client.post("/report", data={**fields, "reason": "Automated"})
    assert refused.status_code == 422 and "Choose a reason" in refused.text
    sent = client.post("/report", data={**fields, "reason": "Ownership"}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/my/reports?done=report-filed"
    mine = client.get(sent.headers["location"])
    assert "your report is filed" in mine.text and "Waiting for a moderator" in mine.text
    again = client.post("/report", data={**fields, "reason": "Spam"})
    assert again.status_code == 409 and "reported this already" in again.text


def test_the_report_page_is_a_404_for_what_the_visitor_cannot_see(runtime: Runtime, client: TestClient) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    draft = create_model(runtime, owner)
    log_in(client, reporter)
    for query in [f"type=model&id={draft.id}", "type=model&id=99999999999", "type=nope&id=1", "type=&id="]:
        assert client.get(f"/report?{query}").status_code == 404, query


def test_report_buttons_on_the_model_and_profile_pages(runtime: Runtime, client: TestClient) -> None:
    owner, visitor = create_user(runtime), create_user(runtime)
    made = create_model(runtime, owner, published=True)
    page = client.get(f"/models/{made.id}").text
    assert f'href="/report?type=model&amp;id={made.id}"' in page
    assert f'href="/report?type=version&amp;id={made.version_ids[0]}"' in page
    assert 'data-report-reasons="[[&#34;TOSViolation&#34;' in page or 'data-report-reasons="[[&quot;' in page
    profile = client.get(f"/user/{owner.username}").text
    assert f'href="/report?type=user&amp;id={owner.id}"' in profile
    log_in(client, owner)  # nobody is offered to report their own things
    assert "/report?type=model" not in client.get(f"/models/{made.id}").text
    assert "/report?type=user" not in client.get(f"/user/{owner.username}").text
    _ = visitor


def test_the_dashboard_lists_claims_and_decides(runtime: Runtime, client: TestClient) -> None:
    owner, reporter = create_user(runtime), create_user(runtime)
    moderator, other = create_user(runtime, role=Role.moderator), create_user(runtime, role=Role.moderator)
    image_id = picture(runtime, owner, level=8)
    case_id = report(runtime, reporter, "image", image_id)
    log_in(client, reporter)
    assert client.get("/moderation").status_code == 403
    client.cookies.clear()
    log_in(client, moderator)
    dashboard = client.get("/moderation")
    assert dashboard.status_code == 200
    assert f'href="/moderation/cases/{case_id}"' in dashboard.text and "mod-thumb--blur" in dashboard.text
    assert 'data-queue-count="reported">1<' in dashboard.text
    claimed = client.post(f"/moderation/cases/{case_id}/claim", data={"csrf_token": csrf(dashboard.text)})
    assert claimed.status_code == 200 and "The case is yours" in claimed.text
    assert case(runtime, case_id).claimed_by_id == moderator.id
    # Another moderator sees who holds it.
    watcher = TestClient(client.app, raise_server_exceptions=False)
    log_in(watcher, other)
    assert f"by {moderator.username}" in watcher.get("/moderation").text
    page = client.get(f"/moderation/cases/{case_id}")
    assert "Decide" in page.text and reporter.username in page.text
    failed = client.post(f"/moderation/cases/{case_id}/act", data={"csrf_token": csrf(page.text), "action": "block"})
    assert failed.status_code == 422 and "needs a reason" in failed.text
    done = client.post(
        f"/moderation/cases/{case_id}/act",
        data={"csrf_token": csrf(page.text), "action": "block", "reason": "Gore", "strike_points": "1"},
    )
    assert done.status_code == 200 and "the case is closed" in done.text
    assert case(runtime, case_id).status == ReportStatus.Actioned
    log = client.get("/moderation/log")
    assert log.status_code == 200 and "Gore" in log.text and f"case {case_id}" in log.text
    assert "0 open reports" in client.get("/admin").text or "open reports" in client.get("/admin").text


def test_review_item_pages(runtime: Runtime, client: TestClient) -> None:
    owner, moderator = create_user(runtime), create_user(runtime, role=Role.moderator)
    image_id = picture(runtime, owner)
    with runtime.db.transaction() as session:
        item_id = open_review(session, ReviewQueue.newUser, "image", image_id, detail={"user_id": owner.id}).id
    log_in(client, moderator)
    tab = client.get("/moderation?queue=newUser")
    assert f'href="/moderation/items/{item_id}"' in tab.text
    page = client.get(f"/moderation/items/{item_id}")
    assert page.status_code == 200 and owner.username in page.text
    approved = client.post(
        f"/moderation/items/{item_id}/act", data={"csrf_token": csrf(page.text), "action": "dismiss"}
    )
    assert approved.status_code == 200 and "the item is closed" in approved.text
    assert f'href="/moderation/items/{item_id}"' not in client.get("/moderation?queue=newUser").text


def test_filters_and_bad_parameters_answer_plainly(runtime: Runtime, client: TestClient) -> None:
    moderator = create_user(runtime, role=Role.moderator)
    log_in(client, moderator)
    for query in ["queue=nope", "type=zzz", "reason=Bogus", "status=closed", "after=9999999999", "queue=appeal"]:
        assert client.get(f"/moderation?{query}").status_code == 200, query
    assert client.get("/moderation?type=%00").status_code == 400  # the edge refuses NUL in any parameter
    assert client.get("/moderation/cases/99999").status_code == 404
    assert client.get("/moderation/cases/99999999999").status_code in (404, 422)
    assert client.get("/moderation/log?id=abc&before=-1").status_code == 200


def test_quick_decisions_from_the_dashboard_come_back_to_it(runtime: Runtime, client: TestClient) -> None:
    owner, reporter, moderator = create_user(runtime), create_user(runtime), create_user(runtime, role=Role.moderator)
    rated, dismissed = picture(runtime, owner, level=1), picture(runtime, owner)
    rated_case = report(runtime, reporter, "image", rated)
    dismissed_case = report(runtime, reporter, "image", dismissed)
    log_in(client, moderator)
    dashboard = client.get("/moderation?queue=reported&type=image")
    assert dashboard.text.count("data-quick-level") == 2
    back = "/moderation?queue=reported&type=image"
    token = csrf(dashboard.text)
    answer = client.post(
        f"/moderation/cases/{rated_case}/act",
        data={"csrf_token": token, "action": "set_level", "level": "4", "back": back},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"{back}&done=case-decided"
    answer = client.post(
        f"/moderation/cases/{dismissed_case}/act",
        data={"csrf_token": token, "action": "dismiss", "back": "https://evil.example/"},
        follow_redirects=False,
    )
    assert answer.headers["location"].startswith(f"/moderation/cases/{dismissed_case}")  # only same-site paths
    assert case(runtime, rated_case).status == ReportStatus.Actioned
    assert case(runtime, dismissed_case).status == ReportStatus.Unactioned
    assert "this queue is empty" in client.get(back).text

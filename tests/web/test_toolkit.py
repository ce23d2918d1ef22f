"""The page toolkit every domain's pages use: flash messages from one registry, form fields read strictly, and
the log-in form for pages that need one (the domains' pages test the rest through their own forms)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modelyard.core.errors import ValidationFailed
from modelyard.web.toolkit import register_flash, see_other, whole_number
from tests.web.test_pages import HTML


def test_a_flash_key_means_one_thing() -> None:
    register_flash({"toolkit-test-saved": "Saved."})
    register_flash({"toolkit-test-saved": "Saved."})  # the same words again: a module imported twice
    with pytest.raises(ValueError, match="registered twice"):
        register_flash({"toolkit-test-saved": "Stored."})
    assert see_other("/things?page=2", done="toolkit-test-saved").headers["location"] == (
        "/things?page=2&done=toolkit-test-saved"
    )
    with pytest.raises(AssertionError, match="unregistered flash"):
        see_other("/things", done="toolkit-test-unknown")


def test_only_registered_words_are_shown(client: TestClient) -> None:
    """`?done=` picks a registered message; anything else in it is never shown."""
    assert "You have logged out." in client.get("/login?done=logged-out", headers=HTML).text
    forged = client.get("/login?done=Your+account+is+hacked", headers=HTML).text
    assert "hacked" not in forged and 'role="status"' not in forged


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", None), ("  ", None), (" 42 ", 42), ("0", 0), ("999999999", 999_999_999)],
)
def test_whole_number_reads_what_a_person_types(value: str, expected: int | None) -> None:
    assert whole_number(value, "Clip skip", "clip_skip") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "must be a whole number"),
        ("1.5", "must be a whole number"),
        ("²", "must be a whole number"),  # a digit to str.isdigit, not to int()
        ("١٢", "must be a whole number"),  # Arabic-Indic digits: int() would read them, the form does not
        ("1234567890", "is too large"),
        ("9" * 5000, "is too large"),
    ],
)
def test_whole_number_refuses_anything_else_naming_the_field(value: str, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message) as refused:
        whole_number(value, "Clip skip", "clip_skip")
    assert refused.value.extra["field"] == "clip_skip"


def test_a_page_behind_a_log_in_sends_a_visitor_to_it_and_back(client: TestClient) -> None:
    asked = client.get("/account/sessions?x=1", headers=HTML, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == "/login?next=%2Faccount%2Fsessions%3Fx%3D1"
    admin = client.get("/admin/jobs", headers=HTML, follow_redirects=False)
    assert admin.headers["location"] == "/login?next=%2Fadmin%2Fjobs"

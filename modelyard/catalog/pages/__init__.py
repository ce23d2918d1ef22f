"""The catalog's web pages, one module per page group, mounted from `mount_catalog_pages`: browsing (`browse`),
creators' profiles and tag listings (`profiles`), the model page and its actions (`model`), the create/edit
wizard (`edit`, `publish`), the owner's dashboard (`dashboard`) and the moderators' pages (`moderation`). What
they share is in `common`.

Pages call the same services, lifecycle, visibility and queries functions as the JSON API: what a visitor may
not see answers the site's ordinary 404 page.
"""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.admin.area import register_admin_section
from modelyard.catalog.pages import browse, dashboard, edit, model, moderation, profiles, publish, stats
from modelyard.catalog.pages.common import STATUS_BADGES, STATUS_LABELS, filesize
from modelyard.web.offers import offer
from modelyard.web.templating import register_nav, templates


def mount_catalog_pages(app: FastAPI) -> None:
    """The catalog's pages, their template helpers, and the "Models" link in the header."""
    templates.env.filters["filesize"] = filesize
    templates.env.filters["status_label"] = lambda status: STATUS_LABELS.get(status, str(status))
    templates.env.filters["status_badge"] = lambda status: STATUS_BADGES.get(status, "badge--muted")
    for group in (browse, profiles, dashboard, moderation, edit, publish, stats, model):
        app.include_router(group.router)
    register_nav("Models", "/models", order=10)
    offer(
        "models",
        title="Publish models",
        text="Share checkpoints, LoRAs and embeddings with versions, files, scans, hashes and a publishing schedule.",
        icon="upload",
        order=10,
    )
    offer(
        "discovery",
        title="Discover",
        text="Browse models by type, base model and tag, follow creators' profiles, and see downloads over time.",
        icon="search",
        order=20,
    )
    register_admin_section(*moderation.ADMIN_SECTIONS)

"""Mounting feature flags: their JSON API, and their page in the administration area."""

from __future__ import annotations

from fastapi import FastAPI

from modelyard.admin.area import AdminSection, register_admin_section
from modelyard.flags.pages import router as pages_router
from modelyard.flags.routes import admin_router, router

SECTION = AdminSection(
    "flags",
    "Feature flags",
    "/admin/flags",
    icon="flag",
    blurb="Turn features on for some people first, then everyone.",
    accent="flags",
    order=70,
    admins_only=True,
)


def include_flags(app: FastAPI) -> None:
    """Add the flag API (`/api/admin/flags`, `/api/flags`) and the admin page (`/admin/flags`); the API router's
    lifespan loads the flags at start-up and stores pending exposure counts at shutdown. Calling it again on
    the same app does nothing."""
    if getattr(app.state, "flags_included", False):
        return
    app.state.flags_included = True
    app.include_router(admin_router)
    app.include_router(router)
    app.include_router(pages_router)
    register_admin_section(SECTION)

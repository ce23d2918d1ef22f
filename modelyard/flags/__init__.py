"""Feature flags: defined in the database (admin page, JSON API) and in `settings.feature_flags`, targeting
everyone, roles, listed users or a stable percentage of users, with weighted A/B variants and exposure counts.

    from modelyard.flags import evaluator_for
    flags = evaluator_for(runtime)
    if flags.is_enabled("new-feed", user): ...
    variant = flags.variant("upload-form", user)      # None, or the user's variant
    on, variant = flags.expose("upload-form", user)   # the same, counting an exposure

Evaluation is in process, from a snapshot each process reloads when any process changes a flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.flags.evaluator import FlagEvaluator
from modelyard.flags.service import evaluator_for, stop_flags

if TYPE_CHECKING:
    from fastapi import FastAPI


def include_flags(app: FastAPI) -> None:
    """Add the flag API (`/api/admin/flags`, `/api/flags`) and the admin page (`/admin/flags`); the API router's
    lifespan loads the flags at start-up and stores pending exposure counts at shutdown. Calling it again on
    the same app does nothing."""
    if getattr(app.state, "flags_included", False):
        return
    app.state.flags_included = True
    from modelyard.flags.pages import router as pages_router
    from modelyard.flags.routes import admin_router, router

    app.include_router(admin_router)
    app.include_router(router)
    app.include_router(pages_router)


__all__ = ["FlagEvaluator", "evaluator_for", "include_flags", "stop_flags"]

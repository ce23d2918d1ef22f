"""Feature flags: defined in the database (admin page, JSON API) and in `settings.feature_flags`, targeting
everyone, roles, listed users or a stable percentage of users, with weighted A/B variants and exposure counts.

    from modelyard.flags import evaluator_for
    flags = evaluator_for(runtime)
    if flags.is_enabled("new-feed", user): ...
    variant = flags.variant("upload-form", user)      # None, or the user's variant
    on, variant = flags.expose("upload-form", user)   # the same, counting an exposure

Evaluation is in process, from a snapshot each process reloads when any process changes a flag. The API and the
admin page are mounted by `mount.include_flags`.
"""

from __future__ import annotations

from modelyard.flags.evaluator import FlagEvaluator
from modelyard.flags.service import evaluator_for, stop_flags

__all__ = ["FlagEvaluator", "evaluator_for", "stop_flags"]

"""What the owner is told when their work is taken down without their asking: an e-mail, queued in the same
transaction as the take-down (sent once it commits, never for one rolled back), with the moderator's reason and
message, or the scanner's finding."""

from __future__ import annotations

from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.catalog.enums import UnpublishKind
from modelyard.catalog.models import Model, ModelVersion
from modelyard.core.runtime import get_runtime
from modelyard.mail.service import send_email

_WHY = {
    UnpublishKind.violation: "for a violation of the site's rules",
    UnpublishKind.legal: "after a legal request (such as a DMCA notice)",
    UnpublishKind.scan: "because a file failed its security scan",
}


def tell_owner_of_takedown(
    session: Session,
    model: Model,
    version: ModelVersion | None,
    *,
    kind: UnpublishKind,
    reason: str | None,
    message: str | None,
) -> None:
    """E-mail the owner that `model` (or its `version`) was unpublished for a violation, a legal request or a failed
    scan. Unpublishing of their own accord, or with a ban (which has its own notice), sends nothing."""
    if kind not in _WHY:
        return
    owner = session.get(User, model.user_id)
    if owner is None or not owner.email:
        return
    what = f'the version "{version.name}" of your model "{model.name}"' if version else f'your model "{model.name}"'
    by = "A moderator unpublished" if kind != UnpublishKind.scan else "We unpublished"
    lines = [f"Hello {owner.username},", "", f"{by} {what} {_WHY[kind]}."]
    if reason:
        lines += ["", f"Reason: {reason}"]
    if message:
        lines += ["", "Message from the moderator:", message]
    base = get_runtime().settings.site_url
    link = f"{base}/models/{model.id}" + (f"?modelVersionId={version.id}" if version else "")
    lines += [
        "",
        "It is hidden from everyone but you and the moderators. You can see it, and the reason, at:",
        link,
    ]
    subject = f'"{model.name}" was unpublished' + (" by a moderator" if kind != UnpublishKind.scan else "")
    send_email(session, to=owner.email, subject=subject, body="\n".join(lines))

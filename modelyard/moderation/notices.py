"""What reporters and owners are told of a moderator's decision: an e-mail each, queued in the decision's
transaction (sent once it commits, never for one rolled back). Notifications proper arrive with their own domain.

Reporters learn whether something was done, not what (the owner's strikes are not theirs to know). Owners learn
what was done to their thing and why, and how to appeal; a dismissed report is not news to an owner. A take-down
through the lifecycle tells the owner itself (`catalog.lifecycle.notices`), so it is not told twice.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.accounts.models import User
from modelyard.core.runtime import get_runtime
from modelyard.mail.service import send_email
from modelyard.moderation.models import Report, ReportEntry
from modelyard.moderation.reportables import Subject, label_of

_DONE = {
    "set_level": "changed its content rating",
    "block": "removed it",
    "unpublish": "unpublished it",
    "strike": "gave its owner a strike",
    "mute": "muted its owner",
    "ban": "banned its owner",
}


def _site() -> str:
    return get_runtime().settings.site_url


def _thing(subject: Subject | None, entity_type: str, entity_id: int) -> str:
    label = label_of(entity_type).lower()
    return f'the {label} "{subject.title}"' if subject else f"the {label} #{entity_id}"


def tell_reporters(session: Session, case: Report, subject: Subject | None, *, actioned: bool) -> int:
    """One e-mail to each person who reported the case; returns how many were sent."""
    reporter_ids = session.scalars(
        select(ReportEntry.reporter_id).where(ReportEntry.report_id == case.id, ReportEntry.reporter_id.is_not(None))
    ).all()
    users = session.scalars(select(User).where(User.id.in_(set(reporter_ids)))).all() if reporter_ids else []
    what = _thing(subject, case.entity_type, case.entity_id)
    outcome = (
        "A moderator reviewed it and took action. Thank you for helping keep the site safe."
        if actioned
        else "A moderator reviewed it and found nothing against the rules, so it stays as it is."
    )
    sent = 0
    for user in users:
        if not user.email or user.is_banned:
            continue
        body = "\n".join(
            [
                f"Hello {user.username},",
                "",
                f"You reported {what}.",
                outcome,
                "",
                "Your reports and their status:",
                f"{_site()}/my/reports",
            ]
        )
        send_email(session, to=user.email, subject="Your report was reviewed", body=body)
        sent += 1
    return sent


def tell_owner(
    session: Session,
    owner_id: int | None,
    subject: Subject | None,
    entity_type: str,
    entity_id: int,
    *,
    action: str,
    reason: str | None,
    appealable: bool,
) -> bool:
    """E-mail the owner what a moderator did to their thing, and why."""
    owner = session.get(User, owner_id) if owner_id else None
    if owner is None or not owner.email:
        return False
    what = _thing(subject, entity_type, entity_id).replace("the ", "your ", 1)
    lines = [f"Hello {owner.username},", "", f"A moderator reviewed {what} and {_DONE.get(action, action)}."]
    if reason:
        lines += ["", f"Reason: {reason}"]
    if appealable:
        lines += [
            "",
            "If you think this is a mistake, you can appeal once, with a message for the moderators:",
            f"{_site()}/appeal?type={entity_type}&id={entity_id}",
        ]
    send_email(session, to=owner.email, subject="A moderator acted on your content", body="\n".join(lines))
    return True


def tell_appellant(session: Session, user_id: int, what: str, *, reversed_: bool, note: str | None) -> None:
    user = session.get(User, user_id)
    if user is None or not user.email:
        return
    outcome = "A moderator agreed with you and undid the decision." if reversed_ else "A moderator upheld the decision."
    lines = [f"Hello {user.username},", "", f"You appealed the decision about {what}.", outcome]
    if note:
        lines += ["", f"The moderator's note: {note}"]
    send_email(session, to=user.email, subject="Your appeal was decided", body="\n".join(lines))


def tell_restricted(session: Session, user: User, *, points: int, paused_until: str | None, muted: bool) -> None:
    """The owner learns of the restrictions their strikes brought."""
    if not user.email:
        return
    lines = [f"Hello {user.username},", "", f"Your account has {points} active strike points."]
    if paused_until:
        lines.append(f"Your uploads are paused until {paused_until}.")
    if muted:
        lines.append("Your account is muted: you can read, but not post.")
    lines += ["", "Strikes expire with time; restrictions lift as they do."]
    send_email(session, to=user.email, subject="Restrictions on your account", body="\n".join(lines))

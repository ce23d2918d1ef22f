"""The rating game's rules: queue, consensus, judgement, checks and the bench, the reward hook."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from modelyard.accounts.models import Role, User
from modelyard.core.db import utcnow
from modelyard.core.errors import Conflict, NotFound, ValidationFailed
from modelyard.images import moderate
from modelyard.images.models import BlockedFor, Image, Ingestion
from modelyard.moderation.game import on_rating_counted, queue_for_rating
from modelyard.moderation.game.models import GamePlayer, GameQueueItem, GameRating, QueueStatus, RatingOutcome
from modelyard.moderation.game.players import refusal, require_player
from modelyard.moderation.game.queue import current_assignment
from modelyard.moderation.game.rewards import forget_rating_hook
from modelyard.moderation.game.service import rate, sweep
from modelyard.moderation.models import ReviewItem, ReviewQueue, Strike
from tests.moderation.game_world import configure, picture, play, player_row, veteran
from tests.support.factories import create_user


def _image(runtime, image_id: int) -> Image:
    with runtime.db.session() as session:
        found = session.get(Image, image_id)
        assert found is not None
        session.expunge(found)
        return found


def _item(runtime, image_id: int) -> GameQueueItem:
    with runtime.db.session() as session:
        found = session.get(GameQueueItem, image_id)
        assert found is not None
        session.expunge(found)
        return found


def _outcomes(runtime, image_id: int) -> list[RatingOutcome]:
    with runtime.db.session() as session:
        query = select(GameRating.outcome).where(GameRating.image_id == image_id).order_by(GameRating.id)
        return list(session.scalars(query))


def test_consensus_sets_and_locks_the_level(runtime, monkeypatch):
    configure(monkeypatch, runtime)
    owner = create_user(runtime)
    image_id = picture(runtime, owner)
    players = [veteran(runtime) for _ in range(3)]
    assert [play(runtime, p, "R").decided for p in players[:2]] == [False, False]
    assert _image(runtime, image_id).nsfw_level_locked is False
    turn = play(runtime, players[2], "R")
    assert turn.decided and turn.image_id == image_id
    image = _image(runtime, image_id)
    assert (image.nsfw_level, image.nsfw_level_locked) == (4, True)
    item = _item(runtime, image_id)
    assert (item.status, item.decided_level) == (QueueStatus.decided, 4)
    assert _outcomes(runtime, image_id) == [RatingOutcome.Correct] * 3
    assert all(player_row(runtime, p).exp == 10 for p in players)
    with runtime.db.transaction() as session:  # decided: no one is shown it again
        user = session.get(User, veteran(runtime).id)
        with pytest.raises(NotFound):
            current_assignment(session, require_player(session, user))


def test_an_agreed_blocked_blocks_the_image_for_the_rules(runtime, monkeypatch):
    configure(monkeypatch, runtime)
    image_id = picture(runtime, create_user(runtime))
    for player in [veteran(runtime) for _ in range(3)]:
        play(runtime, player, "Blocked")
    image = _image(runtime, image_id)
    assert (image.ingestion, image.blocked_for) == (Ingestion.Blocked, BlockedFor.tos)
    assert _item(runtime, image_id).decided_level == 32


def test_rank_makes_a_vote_weigh_more(runtime, monkeypatch):
    configure(monkeypatch, runtime)
    image_id = picture(runtime, create_user(runtime))
    knight, acolyte = veteran(runtime), veteran(runtime)
    with runtime.db.transaction() as session:
        require_player(session, session.get(User, knight.id)).exp = 600  # a Knight: weight 2
    assert play(runtime, knight, "X").decided is False
    assert play(runtime, acolyte, "X").decided is True  # 2 + 1 reaches the 3 needed
    assert _image(runtime, image_id).nsfw_level == 8


def test_no_agreement_goes_to_a_moderator_and_proves_nothing(runtime, monkeypatch):
    configure(monkeypatch, runtime, game_max_votes=3)
    image_id = picture(runtime, create_user(runtime), level=2)
    players = [veteran(runtime) for _ in range(3)]
    for player, level in zip(players, ["PG", "R", "XXX"], strict=True):
        assert play(runtime, player, level).decided is False
    assert _item(runtime, image_id).status == QueueStatus.undecided
    assert _outcomes(runtime, image_id) == [RatingOutcome.Inconclusive] * 3
    assert _image(runtime, image_id).nsfw_level_locked is False
    assert all(player_row(runtime, p).exp == 0 for p in players)
    with runtime.db.session() as session:
        review = session.scalars(select(ReviewItem).where(ReviewItem.entity_id == image_id)).one()
        assert review.queue == ReviewQueue.uncertain and review.detail["votes"] == 3


def test_a_player_never_rates_their_own_image_nor_one_twice(runtime, monkeypatch):
    configure(monkeypatch, runtime)
    owner = veteran(runtime)
    picture(runtime, owner)
    with runtime.db.transaction() as session, pytest.raises(NotFound):  # the only queued image is theirs
        current_assignment(session, require_player(session, session.get(User, owner.id)))
    player = veteran(runtime)
    with runtime.db.transaction() as session:
        user = session.get(User, player.id)
        assignment = current_assignment(session, require_player(session, user))
        ticket = assignment.ticket
        assert current_assignment(session, require_player(session, user)).ticket == ticket  # kept until answered
        rate(session, user, ticket, "PG13")
    with runtime.db.transaction() as session:
        user = session.get(User, player.id)
        with pytest.raises(Conflict):  # the same ticket again
            rate(session, user, ticket, "R")
    with runtime.db.transaction() as session, pytest.raises(NotFound):  # rated already: not drawn again
        current_assignment(session, require_player(session, session.get(User, player.id)))
    with runtime.db.session() as session:
        assert session.query(GameRating).count() == 1


def test_bad_levels_and_forged_tickets_change_nothing(runtime, monkeypatch):
    configure(monkeypatch, runtime)
    picture(runtime, create_user(runtime))
    player = veteran(runtime)
    with runtime.db.transaction() as session:
        user = session.get(User, player.id)
        ticket = current_assignment(session, require_player(session, user)).ticket
    for level in ("", "PG\x00", "64", "3", "huge" * 10):
        with runtime.db.transaction() as session, pytest.raises(ValidationFailed):
            rate(session, session.get(User, player.id), ticket, level)
    with runtime.db.transaction() as session, pytest.raises(Conflict):
        rate(session, session.get(User, player.id), ticket[:-1] + "A" if ticket[-1] != "A" else "B", "R")
    with runtime.db.session() as session:
        assert session.query(GameRating).count() == 0


def test_check_images_judge_an_answer_at_once(runtime, monkeypatch):
    configure(monkeypatch, runtime, game_check_share=1.0)
    moderator_set = picture(runtime, create_user(runtime), level=4, locked=True, queued=False)
    picture(runtime, create_user(runtime))  # the queue is not empty: checks are mixed in
    player = veteran(runtime)
    turn = play(runtime, player, "R")
    assert (turn.image_id, turn.check) == (moderator_set, True)
    assert _outcomes(runtime, moderator_set) == [RatingOutcome.Correct]
    row = player_row(runtime, player)
    assert (row.checks, row.checks_correct, row.standing, row.exp) == (1, 1, 3, 10)  # a check weighs 3 in standing
    assert _image(runtime, moderator_set).nsfw_level == 4  # a check is never changed by the players


def test_a_player_who_always_answers_the_same_level_is_benched(runtime, monkeypatch):
    configure(
        monkeypatch,
        runtime,
        game_check_share=1.0,
        game_bench_min_checks=5,
        game_bench_accuracy=0.6,
        game_agreement_share=1.0,
    )
    owner = create_user(runtime)
    for level in (4, 8, 4, 8, 16, 4, 8):
        picture(runtime, owner, level=level, locked=True, queued=False)
    queued = picture(runtime, owner)
    lazy = veteran(runtime)
    counted: list[tuple[int, int, bool]] = []

    def hook(session, user_id, image_id, agreed):
        counted.append((user_id, image_id, agreed))

    on_rating_counted(hook)
    try:
        for _ in range(5):
            assert play(runtime, lazy, "PG").check is True
        row = player_row(runtime, lazy)
        assert row.benched_at is not None and row.checks == 5 and row.checks_correct == 0
        assert len(counted) == 5  # given before the bench: counted (and Failed)
        configure(monkeypatch, runtime, game_check_share=0.0, game_agreement_share=1.0)
        assert play(runtime, lazy, "PG").check is True  # benched: only checks, whatever the share
        assert len(counted) == 5  # a benched player's answers do not count
        # An image drawn before the bench: their answer is kept, weighing nothing.
        with runtime.db.transaction() as session:
            player = session.get(GamePlayer, lazy.id)
            player.ticket, player.assigned_image_id, player.assigned_check = "drawn-before", queued, False
        play_result = None
        with runtime.db.transaction() as session:
            play_result = rate(session, session.get(User, lazy.id), "drawn-before", "PG")
        assert play_result.decided is False
        item = _item(runtime, queued)
        assert (item.votes, item.weight) == (0, 0.0)
        honest = [veteran(runtime) for _ in range(3)]
        assert [play(runtime, p, "X").decided for p in honest] == [False, False, True]  # 100% agreement: PG ignored
        assert _image(runtime, queued).nsfw_level == 8
        with runtime.db.session() as session:
            lazy_rating = session.scalars(
                select(GameRating).where(GameRating.user_id == lazy.id, GameRating.image_id == queued)
            ).one()
            assert (lazy_rating.weight, lazy_rating.outcome) == (0.0, RatingOutcome.Inconclusive)
        assert not [c for c in counted if c[0] == lazy.id and c[1] == queued]
    finally:
        forget_rating_hook(hook)


def test_the_reward_hook_is_called_for_each_counted_rating(runtime, monkeypatch):
    configure(monkeypatch, runtime, game_votes_needed=2.0, game_agreement_share=0.6)
    image_id = picture(runtime, create_user(runtime))
    counted: list[tuple[int, int, bool]] = []

    def hook(session, user_id, image_id, agreed):
        assert session.get(GameRating, 1) is None or True  # called inside the judging transaction
        counted.append((user_id, image_id, agreed))

    on_rating_counted(hook)
    try:
        first, second, third = veteran(runtime), veteran(runtime), veteran(runtime)
        play(runtime, first, "R")
        play(runtime, second, "X")
        assert counted == []  # nothing judged before the decision
        assert play(runtime, third, "R").decided
        assert sorted(counted) == sorted(
            [(first.id, image_id, True), (second.id, image_id, False), (third.id, image_id, True)]
        )
        assert player_row(runtime, second).exp == 0 and player_row(runtime, second).standing == -1
    finally:
        forget_rating_hook(hook)


def test_queueing_is_idempotent_and_skips_blocked_images(runtime, monkeypatch):
    configure(monkeypatch, runtime)
    owner = create_user(runtime)
    image_id = picture(runtime, owner)
    with runtime.db.transaction() as session:
        queue_for_rating(session, image_id, reason="moderator")
        assert session.query(GameQueueItem).count() == 1
        with pytest.raises(ValidationFailed):
            queue_for_rating(session, image_id, reason="x" * 41)
        with pytest.raises(NotFound):
            queue_for_rating(session, 2**31 - 1, reason="uncertain")
    blocked = picture(runtime, owner, queued=False)
    with runtime.db.transaction() as session:
        moderate.block(session, session.get(Image, blocked), reason=BlockedFor.moderated, actor=None)
        queue_for_rating(session, blocked, reason="uncertain")
        assert session.get(GameQueueItem, blocked) is None
    for player in [veteran(runtime) for _ in range(3)]:
        play(runtime, player, "PG")
    with runtime.db.transaction() as session:  # decided, then asked again: a new round
        queue_for_rating(session, image_id, reason="moderator")
    item = _item(runtime, image_id)
    assert (item.status, item.round, item.votes) == (QueueStatus.open, 2, 0)


def test_an_image_blocked_or_settled_while_queued_leaves_the_game(runtime, monkeypatch):
    configure(monkeypatch, runtime)
    owner = create_user(runtime)
    blocked, settled = picture(runtime, owner), picture(runtime, owner)
    early = veteran(runtime)
    first = play(runtime, early, "X")
    second = play(runtime, early, "X")
    assert {first.image_id, second.image_id} == {blocked, settled}
    with runtime.db.transaction() as session:
        moderate.block(session, session.get(Image, blocked), reason=BlockedFor.moderated, actor=None)
        moderate.set_level(session, session.get(Image, settled), 8, lock=True)
    newcomer = veteran(runtime)
    with runtime.db.transaction() as session, pytest.raises(NotFound):  # players no longer see either
        current_assignment(session, require_player(session, session.get(User, newcomer.id)))
    with runtime.db.transaction() as session:
        assert sweep(session) == 2
    assert _item(runtime, blocked).status == QueueStatus.withdrawn
    assert _outcomes(runtime, blocked) == [RatingOutcome.Inconclusive]
    assert _outcomes(runtime, settled) == [RatingOutcome.Correct]  # judged against the moderator's level
    assert player_row(runtime, early).exp == 10


def test_only_trusted_members_play(runtime):
    newcomer = create_user(runtime)
    muted, struck, moderator = veteran(runtime), veteran(runtime), create_user(runtime, role=Role.moderator)
    trusted = veteran(runtime)
    with runtime.db.transaction() as session:
        session.execute(update(User).where(User.id == muted.id).values(muted_at=utcnow()))
        session.add(Strike(user_id=struck.id, points=1, reason="spam", expires_at=utcnow() + timedelta(days=3)))
    with runtime.db.session() as session:
        reasons = {
            name: refusal(session, session.get(User, made.id))
            for name, made in [
                ("new", newcomer),
                ("muted", muted),
                ("struck", struck),
                ("mod", moderator),
                ("ok", trusted),
            ]
        }
    assert reasons["new"] and "days" in reasons["new"]
    assert reasons["muted"] and reasons["struck"]
    assert reasons["mod"] is None and reasons["ok"] is None

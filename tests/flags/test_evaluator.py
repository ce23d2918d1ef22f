"""Targeting, percentages and variants, evaluated from a snapshot (no database needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from modelyard.accounts.models import Role
from modelyard.core.settings import Settings
from modelyard.flags.evaluator import FlagDefinition, FlagEvaluator, build_snapshot
from modelyard.flags.schemas import FlagRules
from modelyard.flags.service import settings_flags

SYNTHETIC_USERS = range(1, 10_001)


@dataclass(frozen=True)
class Person:
    id: int
    role: Role = Role.user


def evaluator(**flags: dict[str, Any]) -> FlagEvaluator:
    definitions = {
        name.replace("_", "-"): FlagDefinition(name.replace("_", "-"), FlagRules.model_validate(rules), "database")
        for name, rules in flags.items()
    }
    return FlagEvaluator(build_snapshot(definitions))


def expected_bucket(name: str, user_id: int) -> int:
    """The documented rule, computed here without the evaluator's pre-seeded CRC."""
    return zlib.crc32(f"{name}:{user_id}".encode()) % 100


def test_everyone_flag_is_on_for_anonymous_visitors_and_users() -> None:
    flags = evaluator(new_feed={"enabled": True, "everyone": True})
    assert flags.is_enabled("new-feed", None)
    assert flags.is_enabled("new-feed", Person(7))


def test_role_targeting_reaches_only_those_roles() -> None:
    flags = evaluator(mod_tools={"enabled": True, "roles": ["moderator", "admin"]})
    assert flags.is_enabled("mod-tools", Person(1, Role.moderator))
    assert flags.is_enabled("mod-tools", Person(2, Role.admin))
    assert not flags.is_enabled("mod-tools", Person(3, Role.user))
    assert not flags.is_enabled("mod-tools", None)


def test_listed_users_are_the_only_ones_in() -> None:
    flags = evaluator(beta={"enabled": True, "user_ids": [3, 5]})
    assert [user_id for user_id in range(1, 10) if flags.is_enabled("beta", Person(user_id))] == [3, 5]


@pytest.mark.parametrize("percentage", [1, 10, 33, 50, 90])
def test_percentage_share_of_ten_thousand_users_is_within_two_points(percentage: int) -> None:
    flags = evaluator(rollout={"enabled": True, "percentage": percentage})
    share = sum(flags.is_enabled("rollout", Person(user_id)) for user_id in SYNTHETIC_USERS) / len(SYNTHETIC_USERS)
    assert abs(share * 100 - percentage) <= 2


def test_percentage_answer_is_the_documented_stable_bucket() -> None:
    flags = evaluator(rollout={"enabled": True, "percentage": 37})
    for user_id in SYNTHETIC_USERS:
        assert flags.is_enabled("rollout", Person(user_id)) == (expected_bucket("rollout", user_id) < 37)


def test_percentage_answers_are_the_same_in_another_process() -> None:
    """Another interpreter with another hash seed: a user's answer must not depend on the process."""
    script = (
        "import json, sys\n"
        "from tests.flags.test_evaluator import Person, evaluator\n"
        "flags = evaluator(rollout={'enabled': True, 'percentage': 25})\n"
        "print(json.dumps([u for u in range(1, 2001) if flags.is_enabled('rollout', Person(u))]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    flags = evaluator(rollout={"enabled": True, "percentage": 25})
    here = [user_id for user_id in range(1, 2001) if flags.is_enabled("rollout", Person(user_id))]
    assert json.loads(done.stdout) == here


def test_raising_the_percentage_keeps_everyone_already_in() -> None:
    before = evaluator(rollout={"enabled": True, "percentage": 10})
    after = evaluator(rollout={"enabled": True, "percentage": 30})
    users = [Person(user_id) for user_id in SYNTHETIC_USERS]
    assert all(after.is_enabled("rollout", user) for user in users if before.is_enabled("rollout", user))


def test_anonymous_visitors_get_a_full_rollout_but_not_a_partial_one() -> None:
    flags = evaluator(full={"enabled": True, "percentage": 100}, partial={"enabled": True, "percentage": 99})
    assert flags.is_enabled("full", None)
    assert not flags.is_enabled("partial", None)


def test_variants_split_users_by_weight() -> None:
    weights = {"control": 20, "b": 30, "c": 50}
    variants = [{"name": name, "weight": weight} for name, weight in weights.items()]
    flags = evaluator(upload_form={"enabled": True, "everyone": True, "variants": variants})
    counts = Counter(flags.variant("upload-form", Person(user_id)) for user_id in SYNTHETIC_USERS)
    for name, weight in weights.items():
        share = counts[name] / len(SYNTHETIC_USERS) * 100
        assert abs(share - weight) <= 2, (name, share)


def test_a_zero_weight_variant_is_never_served() -> None:
    variants = [{"name": "a", "weight": 1}, {"name": "retired", "weight": 0}, {"name": "b", "weight": 1}]
    flags = evaluator(test={"enabled": True, "everyone": True, "variants": variants})
    assert {flags.variant("test", Person(user_id)) for user_id in range(1, 2001)} == {"a", "b"}


def test_variant_is_none_when_the_flag_is_off_for_the_user() -> None:
    variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
    flags = evaluator(test={"enabled": True, "user_ids": [1], "variants": variants})
    assert flags.variant("test", Person(1)) in {"a", "b"}
    assert flags.variant("test", Person(2)) is None


def test_disabled_flag_is_off_for_everyone_whatever_its_rules() -> None:
    rules = {"enabled": False, "everyone": True, "roles": ["admin"], "user_ids": [1], "percentage": 100}
    flags = evaluator(killed=rules)
    assert not any(flags.is_enabled("killed", user) for user in (None, Person(1), Person(2, Role.admin)))
    assert flags.enabled_for(Person(1)) == {}


def test_unknown_flag_is_off() -> None:
    assert not evaluator().is_enabled("never-defined", Person(1))
    assert evaluator().variant("never-defined", Person(1)) is None


def test_expose_counts_only_users_the_flag_is_on_for() -> None:
    flags = evaluator(beta={"enabled": True, "user_ids": [1]})
    assert flags.expose("beta", Person(1)) == (True, None)
    assert flags.expose("beta", Person(2)) == (False, None)
    assert flags.exposures.take() == {("beta", ""): 1}


def test_invalid_settings_flags_are_left_out(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "feature_flags": {
                "good": {"enabled": True, "everyone": True},
                "Bad Name": {"enabled": True},
                "too-much": {"percentage": 150},
                "not-an-object": True,
            }
        }
    )
    assert list(settings_flags(configured)) == ["good"]

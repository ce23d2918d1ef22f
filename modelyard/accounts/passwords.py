"""Password rules: long enough, not absurdly long, not one of the passwords every attacker tries first."""

from __future__ import annotations

import re

from modelyard.core.runtime import get_runtime

MAX_PASSWORD_LENGTH = 256  # argon2 on megabytes of "password" would be a cheap denial of service

# The top of every breached-password list. A password is refused when it is one of these, or becomes one once
# the digits and symbols around it are stripped ("Password123!").
_COMMON = frozenset(
    [
        "password",
        "passw0rd",
        "p@ssword",
        "p@ssw0rd",
        "qwerty",
        "qwertyuiop",
        "asdfgh",
        "asdfghjkl",
        "zxcvbn",
        "zxcvbnm",
        "letmein",
        "welcome",
        "iloveyou",
        "admin",
        "administrator",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "master",
        "shadow",
        "sunshine",
        "princess",
        "trustno1",
        "abc123",
        "abcdef",
        "abcd1234",
        "123456",
        "1234567",
        "12345678",
        "123456789",
        "1234567890",
        "0987654321",
        "111111",
        "000000",
        "654321",
        "123123",
        "121212",
        "112233",
        "696969",
        "secret",
        "login",
        "starwars",
        "whatever",
        "freedom",
        "hello",
        "superman",
        "batman",
        "michael",
        "changeme",
        "default",
        "modelyard",
        "civitai",
        "stablediffusion",
    ]
)
_SEQUENCES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def password_problem(password: str, *, username: str = "", email: str = "") -> str | None:
    """Why `password` is not acceptable, or None."""
    minimum = get_runtime().settings.min_password_length
    if len(password) < minimum:
        return f"Passwords need at least {minimum} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Passwords are at most {MAX_PASSWORD_LENGTH} characters"
    lowered = password.lower()
    core = re.sub(r"[\d\W_]+$", "", re.sub(r"^[\d\W_]+", "", lowered))  # "Password123!" → "password"
    if lowered in _COMMON or core in _COMMON or _is_sequence(lowered):
        return "This password is one of the first that attackers try; choose another"
    if len(set(password)) <= 3:
        return "This password repeats too few characters; choose another"
    for part in (username.lower(), email.lower().split("@")[0]):
        if len(part) >= 3 and part in lowered:
            return "The password must not contain your username or e-mail address"
    return None


def _is_sequence(text: str) -> bool:
    stripped = re.sub(r"[\W_]", "", text)
    if len(stripped) < 6:
        return False
    return any(stripped in seq * 2 or stripped in (seq * 2)[::-1] for seq in _SEQUENCES)

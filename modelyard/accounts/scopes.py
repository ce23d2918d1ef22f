"""Civitai's API token scopes, bit for bit, so keys and clients carry over unchanged."""

from __future__ import annotations

import enum


class TokenScope(enum.IntFlag):
    UserRead = 1
    UserWrite = 2
    ModelsRead = 4
    ModelsWrite = 8
    ModelsDelete = 16
    MediaRead = 32
    MediaWrite = 64
    MediaDelete = 128
    ArticlesRead = 256
    ArticlesWrite = 512
    ArticlesDelete = 1024
    BountiesRead = 2048
    BountiesWrite = 4096
    BountiesDelete = 8192
    AIServicesRead = 16384
    AIServicesWrite = 32768
    BuzzRead = 65536
    CollectionsRead = 131072
    CollectionsWrite = 262144
    SocialWrite = 524288
    SocialTip = 1048576
    NotificationsRead = 1 << 21
    NotificationsWrite = 1 << 22
    VaultRead = 1 << 23
    VaultWrite = 1 << 24

    @classmethod
    def full(cls) -> TokenScope:
        return cls((1 << 25) - 1)

    @classmethod
    def parse(cls, names: str | list[str]) -> TokenScope:
        """`"ModelsRead,ModelsWrite"`, a list of names, `"Full"`, or a number."""
        items = names.split(",") if isinstance(names, str) else names
        scope = cls(0)
        for raw in (item.strip() for item in items):
            if not raw:
                continue
            if raw.lower() == "full":
                scope |= cls.full()
            elif raw.isdigit():
                value = int(raw)
                if value & ~int(cls.full()):
                    raise ValueError(f"scope bits {value} are outside the known scopes")
                scope |= cls(value)
            else:
                try:
                    scope |= cls[raw]
                except KeyError:
                    known = ", ".join(member.name or "" for member in cls)
                    raise ValueError(f"unknown scope {raw!r}; known scopes: Full, {known}") from None
        return scope

    def names(self) -> list[str]:
        return [member.name or "" for member in type(self) if member in self]

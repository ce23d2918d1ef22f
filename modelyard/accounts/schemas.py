from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from modelyard.accounts.models import Role


class PublicUser(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str | None
    role: Role
    created_at: datetime

"""Stored records that are not engine models: users, history events, activity entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class User(BaseModel):
    id: int
    identity: str  # "<platform>:<platform user id>", the name admins use for a user
    platform: str
    username: str | None = None
    display_name: str | None = None
    role: str
    state: str = "active"
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime | None = None

    @property
    def platform_user_id(self) -> str:
        return self.identity.partition(":")[2]

    @property
    def label(self) -> str:
        name = f"@{self.username}" if self.username else (self.display_name or "")
        return f"{self.identity} {name}".strip()


class HistoryEvent(BaseModel):
    id: int
    signal_id: int
    event: str
    description: str
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class ActivityEntry(BaseModel):
    id: int
    user_id: int | None
    kind: str
    description: str
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class Flow(BaseModel):
    user_id: int
    chat_key: str
    kind: str
    state: dict[str, Any] = Field(default_factory=dict)
    expires_at: datetime

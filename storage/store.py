"""The one storage object: the database and every repository over it, built once by the composition root.

The bot reaches every table through `Storage`'s repositories; nothing above storage writes SQL.
"""

from __future__ import annotations

from storage.activity import ActivityRepository
from storage.admin import AuditRepository, ChatSettingsRepository, MessageRepository, UserAdminRepository
from storage.alerts import AlertRepository
from storage.broker_keys import BrokerKeyRepository
from storage.chats import ChatRepository
from storage.db import Database
from storage.follows import JobRunRepository, SubscriptionRepository, WatchRepository
from storage.grids import GridRepository
from storage.positions import PositionRepository
from storage.signals import SignalRepository
from storage.state import FlowRepository, KeyValueRepository
from storage.summary import SummaryRepository
from storage.users import UserRepository


class Storage:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.users = UserRepository(db)
        self.signals = SignalRepository(db)
        self.activity = ActivityRepository(db)
        self.kv = KeyValueRepository(db)
        self.flows = FlowRepository(db)
        self.audit = AuditRepository(db)
        self.messages = MessageRepository(db)
        self.user_admin = UserAdminRepository(db)
        self.chat_settings = ChatSettingsRepository(db)
        self.watches = WatchRepository(db)
        self.subscriptions = SubscriptionRepository(db)
        self.job_runs = JobRunRepository(db)
        self.chats = ChatRepository(db)
        self.alerts = AlertRepository(db)
        self.positions = PositionRepository(db)  # the one instance: trading and the monitors share it
        self.grids = GridRepository(db, self.positions)  # paper grids: their fills open positions through it
        self.summaries = SummaryRepository(db)
        self.broker_keys = BrokerKeyRepository(db)  # users' own broker keys, as encrypted tokens only

    @classmethod
    async def open(cls, path: str) -> Storage:
        return cls(await Database(path).open())

    async def close(self) -> None:
        await self.db.close()

"""The account every user, policy and instance belongs to, and its id in resource names.

The account row is written once by the first-start setup and never changes, so one lookup,
shared by every service of a worker, reads it once and answers from memory afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.errors import NotFoundError
from dockyard.metadata.queries import tenancy as tq
from dockyard.metadata.session import Database
from dockyard.services.access.principals import ram_arn


class NoAccountError(NotFoundError):
    """The first-start setup has not run yet."""


@dataclass(frozen=True, slots=True)
class AccountIds:
    #: The row's key (foreign key of users, groups, policies).
    id: uuid.UUID
    #: The number in ARNs (``acs:ram::$arn_id:user/alice``).
    arn_id: str


class AccountLookup:
    """Reads the account once per process, for every service that names it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._ids: AccountIds | None = None

    async def ids(self, session: AsyncSession | None = None) -> AccountIds:
        """The account's keys; ``session``: read within a transaction already open."""
        if self._ids is None:
            if session is None:
                async with self._db.read() as own:
                    account = await tq.find_account(own)
            else:
                account = await tq.find_account(session)
            if account is None:
                raise NoAccountError("no account: the first-start setup has not run")
            self._ids = AccountIds(account.id, account.arn_id)
        return self._ids

    async def arn_id(self, session: AsyncSession | None = None) -> str:
        return (await self.ids(session)).arn_id

    async def ram_arn(self, path: str) -> str:
        """``acs:ram::$account:$path`` (``user/alice``, ``group/dev``, ...)."""
        return ram_arn(await self.arn_id(), path)

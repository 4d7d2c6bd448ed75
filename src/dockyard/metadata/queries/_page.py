"""One page of a table's rows and how many match in all: the listing the API pages over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dockyard.metadata.base import Base

_Row = TypeVar("_Row", bound=Base)


async def counted_page(
    session: AsyncSession,
    model: type[_Row],
    conditions: Sequence[Any],
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[Sequence[_Row], int]:
    """The rows of ``model`` matching every condition, ``order_by`` ordered, from ``offset``
    (at most ``limit``); with the total, counted in the same transaction."""
    count = select(func.count()).select_from(model).where(*conditions)
    total = (await session.execute(count)).scalar_one()
    stmt = select(model).where(*conditions).order_by(*order_by).offset(offset).limit(limit)
    return (await session.execute(stmt)).scalars().all(), int(total)

"""Shared shapes: the base models, the one error body, and pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

T = TypeVar("T")

PAGE_SIZE_DEFAULT = 30
PAGE_SIZE_MAX = 100
PAGE_MAX = 100_000


class ApiModel(BaseModel):
    """A response body: built from a service view, written in camelCase."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class RequestModel(BaseModel):
    """A request body: camelCase only, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=False,
        validate_by_alias=True,
        extra="forbid",
    )


class ErrorBody(BaseModel):
    """Every error of the API, whatever its status."""

    code: str = Field(description="Stable machine-readable code, e.g. LIMIT_EXCEEDED")
    message: str = Field(description="What went wrong, for people")
    requestId: str = Field(description="Also in the X-Request-Id response header")


class Page(ApiModel, Generic[T]):
    items: list[T]
    page: int = Field(ge=1)
    page_size: int = Field(ge=1, le=PAGE_SIZE_MAX)
    total: int = Field(ge=0)

"""Path, query and header parameters shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Query, Response

from dockyard.api.schemas.common import PAGE_MAX, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX
from dockyard.api.schemas.namespaces import NAMESPACE_PATTERN
from dockyard.api.schemas.repositories import REPOSITORY_PATTERN
from dockyard.services.paging import PageRequest

InstanceId = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", description="`cri-…`, or `default`")
]
NamespaceName = Annotated[str, Path(pattern=NAMESPACE_PATTERN)]
RepositoryName = Annotated[str, Path(pattern=REPOSITORY_PATTERN)]
TagName = Annotated[str, Path(pattern=r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")]
Reference = Annotated[
    str,
    Path(
        pattern=r"^(?:[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}|[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{1,256})$",
        description="A tag or a digest",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=1024,
        description="The ETag of the version read; a mismatch is refused with 412",
    ),
]


def page_request(
    page: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> PageRequest:
    return PageRequest(page, page_size)


Paging = Annotated[PageRequest, Depends(page_request)]


def set_etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = f'"{etag}"'

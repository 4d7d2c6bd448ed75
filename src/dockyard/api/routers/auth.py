"""Sign-in: a console password for a session token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from dockyard.api import actions
from dockyard.api.context import Services
from dockyard.api.errors import responses
from dockyard.api.schemas.auth import SessionOut, SignInRequest

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post(
    "/auth/signin",
    response_model=SessionOut,
    summary="Sign in with a user name and console password",
    openapi_extra=actions.action(actions.SIGN_IN),
    responses=responses(),
)
async def sign_in(body: SignInRequest, svc: Services) -> SessionOut:
    principal = await svc.verifier.verify_console(body.username, body.password)
    token, ttl = svc.tokens.issue_session(principal)
    return SessionOut(
        token=token, expires_in=ttl, expires_at=datetime.now(UTC) + timedelta(seconds=ttl)
    )

"""What an applicant may ask without logging in (办件进度查询): the status of one case, nothing personal.

The gateway routes `GET /api/v1/applications/progress` as public and still signs a (public) principal, so
a call that bypasses the gateway is refused like any other. Withdrawal is a clerk's act: see routes.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from limits import parse, storage, strategies
from pydantic import BaseModel, Field

from services.acceptance import handlers
from services.acceptance.api.routes import settings_of
from services.common.principal import CurrentPrincipal
from services.common.problems import problem_response
from services.common.public_limits import client_address, too_many_requests
from services.common.runtime import Runtime, get_runtime

progress_router = APIRouter(prefix="/api/v1/applications", tags=["acceptance 受理"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class ProgressOut(BaseModel):
    case_no: str
    status: str = Field(description="received / supplement_requested / accepted / in_review / suspended / "
                        "decided / completed / withdrawn / rejected")
    status_name: str = Field(description="已收件 / 补正中 / 已受理 / 审查中 / 特别程序中 / 已决定 / 已办结 / "
                             "已撤回 / 不予受理")
    step_name: str | None = Field(description="the step (环节) the case is in while under review")
    promised_due_date: str | None = Field(description="承诺办结日期")
    last_changed_at: datetime


class _Limits:
    """Per process unless the storage is shared (settings.progress_limit_storage)."""

    def __init__(self, runtime: Runtime) -> None:
        settings = settings_of(runtime)
        self.limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(settings.progress_limit_storage))
        self.per_address = parse(settings.progress_limit_per_address)
        self.failures = parse(settings.progress_failures_per_case)


def _limits(runtime: Runtime) -> _Limits:
    limits: _Limits | None = runtime.extras.get("progress_limits")
    if limits is None:  # no await in between: one per service instance
        limits = runtime.extras["progress_limits"] = _Limits(runtime)
    return limits


def _not_found(path: str) -> JSONResponse:
    # One answer for an unknown case number and for a wrong suffix: nothing to learn from which it was.
    return problem_response(404, "progress-not-found", "未查到该办件，请核对办件编号和证件号码后六位", path)


@progress_router.get(
    "/progress", response_model=ProgressOut, summary="Progress of one case, without login (办件进度查询)",
    responses={404: {"description": "Unknown case number or wrong id suffix (the same answer)"},
               429: {"description": "Too many queries from this address, or too many failures for this case"}},
)
async def progress(
    request: Request, principal: CurrentPrincipal, runtime: RuntimeDep,
    case_no: Annotated[str, Query(min_length=1, max_length=50, description="办件编号 on the receipt")],
    id_suffix: Annotated[str, Query(pattern=r"^[0-9A-Za-z]{6}$",
                                    description="last 6 characters of the applicant's id number "
                                    "(公民身份号码 or 统一社会信用代码), X in either case")],
) -> Any:
    del principal  # any caller the gateway vouches for, the public included
    path = request.url.path
    limits = _limits(runtime)
    address = ("progress-address", client_address(request))
    if not limits.limiter.hit(limits.per_address, *address):
        return too_many_requests(limits.limiter, limits.per_address, address, path, "查询过于频繁，请稍后再试")
    case_no = case_no.strip()
    per_case = ("progress-failures", case_no)
    # Checked before the lookup, so once a case number's budget of wrong guesses is spent even the right
    # suffix waits: the limit must not tell a guesser which of its guesses was right.
    if not limits.limiter.test(limits.failures, *per_case):
        return too_many_requests(limits.limiter, limits.failures, per_case, path,
                         "该办件编号查询失败次数过多，请稍后再试或到窗口查询")

    def read() -> dict[str, Any] | None:
        with runtime.read_session() as session:
            return handlers.query_progress(session, case_no, id_suffix)

    found = await asyncio.to_thread(read)
    if found is None:
        limits.limiter.hit(limits.failures, *per_case)
        return _not_found(path)
    return ProgressOut(**found)

"""RFC 9457 problem details for every HTTP error, with a Chinese message for people and English field names.

A service raises `Problem` (or lets FastAPI's validation fail); the handlers installed by
`install_problem_handlers` turn it into `application/problem+json`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://zwfw.example.gov.cn/problems/"

# Chinese titles people read at the window; the `type` slug stays English for machines.
_TITLES_ZH = {
    400: "请求有误",
    401: "未登录或身份无效",
    403: "无权执行此操作",
    404: "未找到",
    405: "不支持的请求方法",
    409: "与当前状态冲突",
    413: "请求体过大",
    415: "不支持的内容类型",
    422: "请求内容未通过校验",
    429: "请求过于频繁",
    500: "服务内部错误",
    502: "上游服务返回错误",
    503: "服务暂不可用",
    504: "上游服务超时",
}


class Problem(Exception):
    """An error a caller can act on. `slug` names the problem type; `detail` says what happened (中文)."""

    def __init__(self, status: int, slug: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.extensions = extensions


def problem_response(
    status: int, slug: str, detail: str, instance: str | None = None, headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": _TITLES_ZH.get(status, HTTPStatus(status).phrase),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", ""), "code": err.get("type", "")})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.slug, exc.detail, request.url.path, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        fields = "、".join(e["field"] for e in errors)
        return problem_response(
            422, "validation-error", f"以下字段不符合要求：{fields}", request.url.path, errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "请求的资源不存在"
        if exc.status_code == 405:
            detail = "该地址不支持此请求方法"
        return problem_response(
            exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-"), detail,
            request.url.path, headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The detail is deliberately generic: stack traces and SQL must not reach callers.
        return problem_response(500, "internal-error", "服务内部错误，已记录，请稍后重试", request.url.path)

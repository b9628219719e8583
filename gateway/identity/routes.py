"""The gateway's own identity endpoints: login, the OAuth2 token endpoint, logout, the JWKS.

Errors: `/api/v1/auth/*` answers RFC 9457 problem+json as the rest of the platform does. `/oauth/token` answers
in the shape RFC 6749 §5.2 requires (`application/json`, `error` + `error_description`), because OAuth2 client
libraries read exactly that; the same body also carries the problem members (type, title, status, detail), so a
client that reads problem details understands it too.

Every failure of a login or a client authentication gets one answer (401 invalid-credentials / invalid_client),
whether the name is unknown, the secret wrong, the account deactivated or locked: a caller learns nothing about
which names exist or which are locked. A clerk who is locked out is told by the help desk (`python -m
gateway.identity accounts unlock NAME`), not by the login form.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import unquote_plus

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import verify_bearer
from gateway.identity.refresh import InvalidGrant
from gateway.identity.service import Identity, TokenGrant
from services.common.problems import TYPE_BASE, Problem

AUDIT_SUBJECT = "zwfw.audit_subject"  # scope key the door's audit middleware reads: who tried to authenticate
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1: token responses are not cached
_OAUTH_ERRORS = {  # RFC 6749 §5.2 error → (status, detail)
    "invalid_request": (400, "请求缺少参数或参数重复"),
    "invalid_client": (401, "客户端认证失败"),
    "invalid_grant": (400, "授权无效：刷新令牌无效、已过期或已撤销"),
    "unsupported_grant_type": (400, "不支持的授权类型"),
}


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds the access token stays valid")
    refresh_token: str | None = Field(default=None, description="Staff only; rotated on every use")


class OAuthError(BaseModel):
    error: str
    error_description: str
    type: str
    title: str
    status: int
    detail: str


def _tokens(grant: TokenGrant) -> JSONResponse:
    return JSONResponse(grant.body(), headers=_NO_STORE)


def oauth_error(error: str, description: str | None = None) -> JSONResponse:
    status, detail = _OAUTH_ERRORS[error]
    detail = description or detail
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="zwfw"'
    body = {"error": error, "error_description": detail, "type": TYPE_BASE + error.replace("_", "-"),
            "title": "认证失败" if status == 401 else "请求有误", "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers)


def _basic(authorization: str | None) -> tuple[str, str] | None:
    """RFC 6749 §2.3.1: client id and secret, each form-urlencoded, in HTTP Basic."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except ValueError:  # binascii.Error, non-ASCII input, UnicodeDecodeError
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(secret)


def identity_router(identity: Identity) -> APIRouter:
    router = APIRouter(tags=["identity 身份认证"])
    errors: dict[int | str, dict[str, Any]] = {401: {"description": "Invalid credentials (problem+json)"}}

    @router.post("/api/v1/auth/login", response_model=TokenResponse, responses=errors, operation_id="login",
                 summary="工作人员登录 Staff password login")
    def login(body: LoginRequest, request: Request) -> JSONResponse:
        request.scope[AUDIT_SUBJECT] = body.username
        grant = identity.password_login(body.username, body.password)
        if grant is None:
            raise Problem(401, "invalid-credentials", "用户名或密码错误，或账号暂不可用")
        return _tokens(grant)

    @router.post("/oauth/token", response_model=TokenResponse, operation_id="token",
                 summary="OAuth2 令牌端点 (client_credentials, refresh_token, password)",
                 responses={400: {"model": OAuthError}, 401: {"model": OAuthError}})
    def token(
        request: Request,
        grant_type: Annotated[str | None, Form()] = None,
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
        refresh_token: Annotated[str | None, Form()] = None,
        username: Annotated[str | None, Form()] = None,
        password: Annotated[str | None, Form()] = None,
        scope: Annotated[str | None, Form()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        if not grant_type:
            return oauth_error("invalid_request", "缺少 grant_type")
        if grant_type == "client_credentials":
            basic = _basic(authorization)
            if basic is not None and (client_id or client_secret):
                # RFC 6749 §2.3: one authentication method per request.
                return oauth_error("invalid_request", "客户端凭据只能通过一种方式提交")
            cid, secret = basic if basic is not None else (client_id or "", client_secret or "")
            request.scope[AUDIT_SUBJECT] = cid
            grant = identity.client_credentials(cid, secret) if cid and secret else None
            if grant is None:
                return oauth_error("invalid_client")
            return _tokens(grant)
        if grant_type == "password":
            # The same staff login as /api/v1/auth/login, in the OAuth2 form (for the docs page's Authorize and
            # OAuth2 libraries); first-party only: the gateway is the only client that ever sees the password.
            if not username or not password:
                return oauth_error("invalid_request", "缺少 username 或 password")
            request.scope[AUDIT_SUBJECT] = username
            grant = identity.password_login(username, password)
            if grant is None:
                return oauth_error("invalid_grant", "用户名或密码错误，或账号暂不可用")
            return _tokens(grant)
        if grant_type == "refresh_token":
            if not refresh_token:
                return oauth_error("invalid_request", "缺少 refresh_token")
            try:
                grant = identity.refresh(refresh_token)
            except InvalidGrant:
                return oauth_error("invalid_grant")
            return _tokens(grant)
        return oauth_error("unsupported_grant_type")

    @router.post("/api/v1/auth/logout", status_code=204, responses=errors, operation_id="logout",
                 summary="退出登录：撤销本次登录的刷新令牌 Revoke this login's refresh tokens")
    def logout(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
        principal, _exp, claims = verify_bearer(identity.keys, identity.settings.token_issuer, authorization)
        request.scope[AUDIT_SUBJECT] = principal.subject
        family = claims.get("sid")
        if isinstance(family, str):
            identity.logout(principal, family)
        return Response(status_code=204)

    @router.get("/.well-known/jwks.json", operation_id="jwks", summary="令牌验签公钥 JSON Web Key Set",
                responses={200: {"content": {"application/jwk-set+json": {}}}})
    def jwks() -> JSONResponse:
        return JSONResponse(identity.keys.jwks(), media_type="application/jwk-set+json",
                            headers={"Cache-Control": "public, max-age=60"})

    return router

"""Which backend serves which path, and which paths the public may call without logging in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    prefix: str
    backend: str
    public_methods: frozenset[str] = frozenset()  # methods allowed without a token


ROUTES: tuple[Route, ...] = (
    # 办件进度查询: case number plus the id's last 6 characters, no login (rate-limited by acceptance).
    Route("/api/v1/applications/progress", "acceptance", frozenset({"GET"})),
    Route("/api/v1/applications", "acceptance"),
    Route("/api/v1/approval", "approval"),
    Route("/api/v1/catalogue", "disclosure", frozenset({"GET"})),  # 办事指南 is public
    Route("/api/v1/results", "disclosure", frozenset({"GET"})),  # 办件结果公示 is public
    Route("/api/v1/regions", "disclosure", frozenset({"GET"})),  # the region tree the catalogue is offered in
    # 主动公开目录 is public; 依申请公开 requests are submitted by anyone (Art. 27), handled by staff.
    Route("/api/v1/information", "disclosure", frozenset({"GET"})),
    Route("/api/v1/information-requests", "disclosure", frozenset({"POST"})),
    # 投诉 and 好差评 are filed by anyone, and a complaint looked up with its query code; monitoring refuses
    # the staff actions under these paths to a caller without a login (401).
    Route("/api/v1/monitoring/complaints", "monitoring", frozenset({"GET", "POST"})),
    Route("/api/v1/monitoring/ratings", "monitoring", frozenset({"POST"})),
    Route("/api/v1/monitoring", "monitoring"),
)


def match(path: str) -> Route | None:
    for route in ROUTES:
        if path == route.prefix or path.startswith(route.prefix + "/"):
            return route
    return None

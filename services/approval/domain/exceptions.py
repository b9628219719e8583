"""Why an action does not fit the case's state; the service layer answers each with a 409 problem."""

from __future__ import annotations

from typing import Any


class ApprovalConflict(Exception):
    """Base: the request is well-formed but contradicts the state of the case or task."""

    slug = "approval-conflict"

    def __init__(self, detail: str, slug_override: str | None = None, **extras: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extras = extras
        if slug_override is not None:
            self.slug = slug_override


class CaseNotActive(ApprovalConflict):
    slug = "case-not-active"

    def __init__(self, state: str, allowed_actions: list[str]) -> None:
        super().__init__(f"办件当前状态为 {state}，不能执行此操作", state=state, allowed_actions=allowed_actions)


class TaskNotOpen(ApprovalConflict):
    slug = "task-not-open"

    def __init__(self, task_status: str) -> None:
        super().__init__(f"该任务当前状态为 {task_status}，不能办理", task_status=task_status)


class TaskAlreadyCompleted(ApprovalConflict):
    """Two people opened the same task; the second learns who acted first, and when."""

    slug = "task-already-completed"

    def __init__(self, acted_by: str, acted_at: str, acted_by_name: str = "") -> None:
        who = acted_by_name or acted_by
        super().__init__(f"该任务已由 {who} 于 {acted_at} 办理", acted_by=acted_by, acted_at=acted_at,
                         acted_by_name=acted_by_name)


class DecisionRequired(ApprovalConflict):
    slug = "decision-required"

    def __init__(self, step_code: str) -> None:
        super().__init__(f"环节 {step_code} 是最后一个环节，必须作出准予或不予许可的决定", step_code=step_code)


class DecisionNotAllowed(ApprovalConflict):
    slug = "decision-not-allowed"

    def __init__(self, step_code: str) -> None:
        super().__init__(f"环节 {step_code} 不是决定环节，不能作出许可决定", step_code=step_code)


class ReasonsRequired(ApprovalConflict):
    slug = "reasons-required"

    def __init__(self) -> None:
        super().__init__("不予许可必须说明理由")


class StepNotInProcess(ApprovalConflict):
    slug = "step-not-in-process"

    def __init__(self, step_code: str) -> None:
        super().__init__(f"环节 {step_code} 不在该办件的办理流程中", step_code=step_code)


class TaskClaimedByOther(ApprovalConflict):
    """签收: someone else holds the task; the caller learns who (a colleague, not a secret)."""

    slug = "task-claimed"

    def __init__(self, claimed_by: str, claimed_by_name: str, claimed_at: str) -> None:
        super().__init__(f"该任务已由 {claimed_by_name or claimed_by} 于 {claimed_at} 签收", claimed_by=claimed_by,
                         claimed_by_name=claimed_by_name, claimed_at=claimed_at)

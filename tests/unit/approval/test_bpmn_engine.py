"""The shipped demo processes run in SpiffWorkflow through the approval adapter, state saved and loaded
between every step as a service does per request."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.approval.adapters import bpmn_engine as engine
from services.approval.adapters.bpmn_engine import ProcessLibrary, ProcessRefused, TaskNotReady, check_condition

PROCESSES = Path(__file__).resolve().parents[3] / "services" / "approval" / "processes"


def xml(name: str) -> str:
    return (PROCESSES / f"{name}.bpmn").read_text(encoding="utf-8")


def step(library: ProcessLibrary, state: str, element_id: str, **data: object) -> str:
    workflow = library.load(state)
    engine.complete(workflow, element_id, data)
    return engine.dump(workflow)


def test_review_then_decide_approves() -> None:
    library = ProcessLibrary()
    workflow = library.start(xml("review_decide"))
    assert engine.ready_tasks(workflow) == ["Task_accept"]
    state = engine.dump(workflow)
    state = step(library, state, "Task_accept")
    assert engine.progress(library.load(state)).ready == ("Step_1",)
    state = step(library, state, "Step_1")
    assert engine.progress(library.load(state)).ready == ("Step_2",)
    state = step(library, state, "Step_2", decision="approve")
    done = engine.progress(library.load(state))
    assert done.completed and done.ready == () and done.end_event == "EndEvent_approved"


def test_three_steps_deny() -> None:
    library = ProcessLibrary()
    state = engine.dump(library.start(xml("undertake_audit_decide")))
    for element in ("Task_accept", "Step_1", "Step_2"):
        state = step(library, state, element)
    state = step(library, state, "Step_3", decision="deny")
    assert engine.progress(library.load(state)).end_event == "EndEvent_denied"


def test_joint_departments_run_in_parallel_and_the_decision_waits_for_all() -> None:
    library = ProcessLibrary()
    state = engine.dump(library.start(xml("joint_three_departments")))
    state = step(library, state, "Task_accept")
    state = step(library, state, "Step_1")
    assert set(engine.progress(library.load(state)).ready) == {"Step_2_dept_1", "Step_2_dept_2", "Step_2_dept_3"}
    state = step(library, state, "Step_2_dept_3", dept_3="agree")
    state = step(library, state, "Step_2_dept_1", dept_1="agree")
    assert engine.progress(library.load(state)).ready == ("Step_2_dept_2",)  # the decision waits
    state = step(library, state, "Step_2_dept_2", dept_2="agree")
    assert engine.progress(library.load(state)).ready == ("Step_3",)
    state = step(library, state, "Step_3", decision="approve")
    assert engine.progress(library.load(state)).end_event == "EndEvent_approved"


def test_a_task_not_ready_is_refused_and_cancel_ends_the_process() -> None:
    library = ProcessLibrary()
    workflow = library.start(xml("review_decide"))
    with pytest.raises(TaskNotReady) as refused:
        engine.complete(workflow, "Step_2", {"decision": "approve"})
    assert refused.value.ready == ["Task_accept"]
    engine.cancel(workflow)
    assert engine.progress(workflow).completed and engine.progress(workflow).ready == ()


def test_a_decision_outside_the_gateway_conditions_fails_in_the_engine() -> None:
    library = ProcessLibrary()
    state = engine.dump(library.start(xml("review_decide")))
    state = step(library, state, "Task_accept")
    state = step(library, state, "Step_1")
    workflow = library.load(state)
    with pytest.raises(Exception):  # noqa: B017 - the library's WorkflowException: no condition matched
        engine.complete(workflow, "Step_2", {"decision": "maybe"})


@pytest.mark.parametrize("condition", [
    "${decision == 'approve'}", "decision != 'deny'", "(a == 'x') and not (b == 'y')", "flag == True",
])
def test_conditions_in_the_small_language_pass(condition: str) -> None:
    assert check_condition(condition)


@pytest.mark.parametrize("condition", [
    "${__import__('os').system('id')}", "open('/etc/passwd')", "decision.upper() == 'X'", "a[0] == 'x'",
    "(lambda: 1)()", "len(decision) == 1", "Exception == 1", "x + 1 == 2", "_secret == 'x'",
])
def test_anything_else_in_a_condition_is_refused(condition: str) -> None:
    with pytest.raises(ProcessRefused):
        check_condition(condition)


def test_a_process_that_would_run_code_is_refused() -> None:
    script = xml("review_decide").replace(
        '<bpmn:userTask id="Step_1"', '<bpmn:scriptTask id="Script_1"><bpmn:script>import os</bpmn:script>'
        '</bpmn:scriptTask><bpmn:userTask id="Step_1"')
    with pytest.raises(ProcessRefused, match="scriptTask"):
        ProcessLibrary().spec(script)
    with pytest.raises(ProcessRefused, match="DOCTYPE"):
        ProcessLibrary().spec('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + xml("review_decide"))
    with pytest.raises(ProcessRefused):
        ProcessLibrary().spec("<definitions/>")

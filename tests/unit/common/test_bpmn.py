"""The shared reading of the BPMN exchange format: every user task placed in its step, and unsafe XML refused."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts.bpmn import (
    BPMN_NS,
    CAMUNDA_NS,
    FLOWABLE_NS,
    ZWFW_NS,
    BpmnError,
    BpmnUserTask,
    parse_bpmn,
    user_tasks,
)
from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.disclosure.domain.bpmn import render_bpmn
from services.disclosure.domain.catalogue import ItemDefinition

DEMO = Path(__file__).resolve().parents[3] / "services" / "disclosure" / "demo" / "catalogue.json"
ONE_REVIEW_ONE_APPROVAL = "320102000000-01-0001"  # 一审一核: 受理审查 → 核准决定
THREE_STEPS = "320102000000-07-0001"  # 承办 → 审核 → 决定
JOINT = "320102001000-01-0001"  # 受理审查 → 联合审查 (three departments) → 审批决定


def demo(item_code: str) -> ItemDefinition:
    (item,) = [i for i in json.loads(DEMO.read_text(encoding="utf-8")) if i["item_code"] == item_code]
    return ItemDefinition.model_validate(item)


def days(n: int) -> TimeLimit:
    return TimeLimit(value=n, unit=LimitUnit.working_days)


def accept_task() -> BpmnUserTask:
    return BpmnUserTask(element_id="Task_accept", name="受理", kind="accept", step_code="Task_accept",
                        step_name="受理", role="window_clerk", department="", limit=None, order=-1)


def test_one_review_one_approval() -> None:
    tasks = user_tasks(render_bpmn(demo(ONE_REVIEW_ONE_APPROVAL), 1))
    assert tasks == {
        "Task_accept": accept_task(),
        "Step_1": BpmnUserTask(element_id="Step_1", name="受理审查", kind="step", step_code="review",
                               step_name="受理审查", role="approver", department="", limit=days(1), order=0),
        "Step_2": BpmnUserTask(element_id="Step_2", name="核准决定", kind="step", step_code="decide",
                               step_name="核准决定", role="department_head", department="", limit=days(2), order=1),
    }


def test_undertake_review_decide() -> None:
    tasks = user_tasks(render_bpmn(demo(THREE_STEPS), 2))
    assert [(t.element_id, t.kind, t.step_code, t.step_name, t.role, t.limit, t.order) for t in tasks.values()] == [
        ("Task_accept", "accept", "Task_accept", "受理", "window_clerk", None, -1),
        ("Step_1", "step", "review", "街道受理审核", "approver", days(7), 0),
        ("Step_2", "step", "audit", "区民政局审核", "approver", days(5), 1),
        ("Step_3", "step", "decide", "确认决定", "department_head", days(3), 2),
    ]


def test_joint_step_gives_one_department_task_per_department() -> None:
    definition = demo(JOINT)
    tasks = user_tasks(render_bpmn(definition, 1))
    departments = definition.process[1].departments
    assert list(tasks) == ["Task_accept", "Step_1", "Step_2_dept_1", "Step_2_dept_2", "Step_2_dept_3", "Step_3"]
    for k, department in enumerate(departments, start=1):
        assert tasks[f"Step_2_dept_{k}"] == BpmnUserTask(
            element_id=f"Step_2_dept_{k}", name=f"联合审查（{department}）", kind="department", step_code="joint",
            step_name="联合审查", role="approver", department=department, limit=days(12), order=1)
    assert (tasks["Step_1"].step_code, tasks["Step_1"].order) == ("review", 0)
    assert (tasks["Step_3"].step_code, tasks["Step_3"].kind, tasks["Step_3"].order) == ("decide", "step", 2)


def test_order_indexes_the_parsed_steps_of_every_demo_item() -> None:
    for item in json.loads(DEMO.read_text(encoding="utf-8")):
        definition = ItemDefinition.model_validate(item)
        document = render_bpmn(definition, 1)
        steps = parse_bpmn(document).steps
        tasks = [t for t in user_tasks(document).values() if t.kind != "accept"]
        assert sorted({t.order for t in tasks}) == list(range(len(steps))), definition.item_code
        for task in tasks:
            step = steps[task.order]
            assert (task.step_code, task.step_name, task.role) == (step.code, step.name, step.role)
            assert task.department in (step.departments or [""])


def test_a_modeler_edited_diagram_reads_with_flowable_groups_and_names() -> None:
    """Without our extension attributes: codes from ids, roles from flowable:candidateGroups, departments from
    task names, and the step name of a joint step from its first lane."""
    root = ET.fromstring(render_bpmn(demo(JOINT), 1))
    for element in root.iter():
        for name in [a for a in element.attrib if a.startswith(f"{{{ZWFW_NS}}}") and not a.endswith("kind")]:
            del element.attrib[name]
        groups = element.attrib.pop(f"{{{CAMUNDA_NS}}}candidateGroups", None)
        if groups is not None:
            element.set(f"{{{FLOWABLE_NS}}}candidateGroups", groups)
    tasks = user_tasks(ET.tostring(root))
    lane = tasks["Step_2_dept_2"]
    assert (lane.kind, lane.step_code, lane.role, lane.department, lane.order) == (
        "department", "Step_2_split", "approver", "联合审查（玄武区农业农村局）", 1)
    assert lane.step_name == "联合审查（玄武区自然资源和规划分局）"
    assert (tasks["Step_3"].step_code, tasks["Step_3"].role) == ("Step_3", "department_head")
    assert tasks["Task_accept"].kind == "accept"


def test_a_user_task_off_the_path_is_refused() -> None:
    root = ET.fromstring(render_bpmn(demo(ONE_REVIEW_ONE_APPROVAL), 1))
    process = root.find(f"{{{BPMN_NS}}}process")
    assert process is not None
    ET.SubElement(process, f"{{{BPMN_NS}}}userTask", {"id": "Task_orphan", "name": "无人到达"})
    with pytest.raises(BpmnError, match="Task_orphan"):
        user_tasks(ET.tostring(root))
    assert len(parse_bpmn(ET.tostring(root)).steps) == 2  # the steps themselves still read


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE definitions [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:process id="P" name="&lol3;"/>
</bpmn:definitions>
"""


@pytest.mark.parametrize("document", [
    BILLION_LAUGHS,
    BILLION_LAUGHS.encode("utf-16"),  # not hidden by another encoding
    '<!DOCTYPE definitions SYSTEM "http://example.com/evil.dtd">'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>',
])
@pytest.mark.parametrize("reader", [parse_bpmn, user_tasks])
def test_a_doctype_is_refused(document: Any, reader: Any) -> None:
    with pytest.raises(BpmnError, match="DOCTYPE"):
        reader(document)


def test_a_rendered_document_is_what_spiffworkflow_runs() -> None:
    """The engine approval uses parses the document, and its user tasks are the ones we place."""
    spiff_parser = pytest.importorskip("SpiffWorkflow.bpmn.parser.BpmnParser")
    for item_code in (ONE_REVIEW_ONE_APPROVAL, THREE_STEPS, JOINT):
        document = render_bpmn(demo(item_code), 1)
        parser = spiff_parser.BpmnParser()
        parser.add_bpmn_str(document.encode())
        spec = parser.get_spec(f"Process_{item_code}")
        engine_user_tasks = {name for name, task in spec.task_specs.items()
                             if type(task).__name__ == "UserTask"}
        assert engine_user_tasks == set(user_tasks(document)), item_code

"""The BPMN 2.0 export of an item's process: a well-formed, executable model with its diagram, and the way back
to steps through the shared reader."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from services.common.contracts.bpmn import (
    BPMN_NS,
    BPMNDI_NS,
    CAMUNDA_NS,
    DC_NS,
    DI_NS,
    ZWFW_NS,
    BpmnError,
    parse_bpmn,
    user_tasks,
)
from services.disclosure.domain.bpmn import render_bpmn
from services.disclosure.domain.catalogue import ItemDefinition, validate_definition

DEMO = Path(__file__).resolve().parents[3] / "services" / "disclosure" / "demo" / "catalogue.json"
FLOW_NODES = {"startEvent", "endEvent", "userTask", "parallelGateway", "exclusiveGateway"}


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def definition(**changes: Any) -> ItemDefinition:
    base: dict[str, Any] = dict(
        item_code="320102001000-01-0001", name="农村村民住宅建设审批", item_type="01", department="街道办事处",
        region_code="320102001000", case_type="2", joint=True,
        legal_limit={"value": 45, "unit": "working_days"}, promised_limit={"value": 20, "unit": "working_days"},
        process=[
            {"code": "review", "name": "受理审查", "role": "approver",
             "limit": {"value": 3, "unit": "working_days", "note": "含现场踏勘"}},
            {"code": "joint", "name": "联合审查", "role": "approver", "limit": {"value": 12, "unit": "working_days"},
             "departments": ["自然资源和规划分局", "农业农村局", "住房和城乡建设局"]},
            {"code": "decide", "name": "审批决定", "role": "department_head"},
        ],
    )
    return ItemDefinition.model_validate(base | changes)


def check_structure(document: str) -> tuple[ET.Element, dict[str, ET.Element]]:
    """The checks a modeler's import makes, as far as structure goes; returns the process and its nodes."""
    root = ET.fromstring(document.encode())
    assert root.tag == q(BPMN_NS, "definitions")
    process = root.find(q(BPMN_NS, "process"))
    assert process is not None
    ids = [el.get("id") for el in root.iter() if el.get("id")]
    assert len(ids) == len(set(ids)), "ids must be unique"
    nodes = {el.get("id", ""): el for el in process if local(el.tag) in FLOW_NODES}
    flows = process.findall(q(BPMN_NS, "sequenceFlow"))
    incoming: Counter[str] = Counter()
    outgoing: Counter[str] = Counter()
    for flow in flows:
        source, target = flow.get("sourceRef", ""), flow.get("targetRef", "")
        assert source in nodes and target in nodes, flow.get("id")
        outgoing[source] += 1
        incoming[target] += 1
        # The node's own incoming/outgoing references agree with the flow.
        assert flow.get("id") in [e.text for e in nodes[source].findall(q(BPMN_NS, "outgoing"))]
        assert flow.get("id") in [e.text for e in nodes[target].findall(q(BPMN_NS, "incoming"))]
    for node_id, node in nodes.items():
        kind = local(node.tag)
        if kind == "startEvent":
            assert (incoming[node_id], outgoing[node_id]) == (0, 1)
        elif kind == "endEvent":
            assert (incoming[node_id], outgoing[node_id]) == (1, 0)
        elif kind == "userTask":
            assert (incoming[node_id], outgoing[node_id]) == (1, 1)
            assert node.get(q(CAMUNDA_NS, "candidateGroups"))
        elif kind == "exclusiveGateway" and node.get("gatewayDirection") == "Converging":
            assert (incoming[node_id], outgoing[node_id]) == (2, 1)  # a conditional step's merge
        elif kind == "exclusiveGateway" and node.get(q(ZWFW_NS, "condition")):
            # A conditional step: to the task on its condition, past it (the gateway's default) to the merge.
            assert (incoming[node_id], outgoing[node_id]) == (1, 2)
            out = [f for f in flows if f.get("sourceRef") == node_id]
            to_task = [f for f in out if local(nodes[f.get("targetRef", "")].tag) == "userTask"]
            skip = [f for f in out if f.get("id") == node.get("default")]
            assert len(to_task) == len(skip) == 1 and to_task[0].find(q(BPMN_NS, "conditionExpression")) is not None
            assert local(nodes[skip[0].get("targetRef", "")].tag) == "exclusiveGateway"
        elif kind == "exclusiveGateway":
            assert (incoming[node_id], outgoing[node_id]) == (1, 2)
            targets = [nodes[f.get("targetRef", "")] for f in flows if f.get("sourceRef") == node_id]
            assert {local(t.tag) for t in targets} == {"endEvent"}
            conditions = [f.find(q(BPMN_NS, "conditionExpression")) for f in flows if f.get("sourceRef") == node_id]
            assert all(c is not None and c.text for c in conditions)
    # Parallel gateways come in pairs: every split's branches meet at one join with as many incoming flows.
    splits = [i for i, n in nodes.items() if local(n.tag) == "parallelGateway" and outgoing[i] > 1]
    joins = [i for i, n in nodes.items() if local(n.tag) == "parallelGateway" and incoming[i] > 1]
    assert len(splits) == len(joins)
    for split in splits:
        assert incoming[split] == 1
        branches = [f.get("targetRef", "") for f in flows if f.get("sourceRef") == split]
        ends = {f.get("targetRef") for f in flows if f.get("sourceRef") in branches}
        assert len(ends) == 1
        (join,) = ends
        assert join in joins and incoming[join] == len(branches) and outgoing[join] == 1
        assert nodes[split].get("gatewayDirection") == "Diverging"
        assert nodes[join].get("gatewayDirection") == "Converging"

    # The diagram: one plane on the process, a shape with bounds per node and an edge per flow.
    plane = root.find(f"{q(BPMNDI_NS, 'BPMNDiagram')}/{q(BPMNDI_NS, 'BPMNPlane')}")
    assert plane is not None and plane.get("bpmnElement") == process.get("id")
    shapes = {s.get("bpmnElement"): s for s in plane.findall(q(BPMNDI_NS, "BPMNShape"))}
    edges = {e.get("bpmnElement"): e for e in plane.findall(q(BPMNDI_NS, "BPMNEdge"))}
    assert set(shapes) == set(nodes)
    assert set(edges) == {f.get("id") for f in flows}
    for shape in shapes.values():
        bounds = shape.find(q(DC_NS, "Bounds"))
        assert bounds is not None and float(bounds.get("width", 0)) > 0 and float(bounds.get("y", -1)) >= 0
    for edge in edges.values():
        assert len(edge.findall(q(DI_NS, "waypoint"))) >= 2
    return process, nodes


def test_a_joint_item_is_a_process_with_tasks_a_parallel_section_and_a_decision() -> None:
    process, nodes = check_structure(render_bpmn(definition(), version=3))
    assert process.get("name") == "农村村民住宅建设审批"
    assert process.get(q(ZWFW_NS, "itemCode")) == "320102001000-01-0001"
    assert process.get(q(ZWFW_NS, "version")) == "3"
    assert process.get("isExecutable") == "true"  # approval runs it
    kinds = Counter(local(n.tag) for n in nodes.values())
    # 受理 + review + three departments + decide; one split and one join; the decision; 准予 and 不予.
    assert kinds == {"startEvent": 1, "userTask": 6, "parallelGateway": 2, "exclusiveGateway": 1, "endEvent": 2}
    review = nodes["Step_1"]
    assert (review.get("name"), review.get(q(CAMUNDA_NS, "candidateGroups"))) == ("受理审查", "approver")
    limit = review.find(f"{q(BPMN_NS, 'extensionElements')}/{q(ZWFW_NS, 'limit')}")
    assert limit is not None and limit.attrib == {"value": "3", "unit": "working_days", "note": "含现场踏勘"}
    lanes = [nodes[f"Step_2_dept_{k}"] for k in (1, 2, 3)]
    assert [n.get(q(ZWFW_NS, "department")) for n in lanes] == ["自然资源和规划分局", "农业农村局", "住房和城乡建设局"]
    assert nodes["EndEvent_approved"].get("name") == "准予" and nodes["EndEvent_denied"].get("name") == "不予"
    assert nodes["Step_3"].find(q(BPMN_NS, "extensionElements")) is None  # no limit, no extension


def test_an_instant_item_ends_on_the_spot_without_a_decision() -> None:
    instant = definition(case_type="1", joint=False, promised_limit={"value": 0, "unit": "working_days"},
                         process=[{"code": "decide", "name": "登记", "role": "window_clerk"}])
    _, nodes = check_structure(render_bpmn(instant))
    assert sorted(nodes) == ["EndEvent_done", "StartEvent_apply", "Step_1", "Task_accept"]
    assert nodes["EndEvent_done"].get("name") == "当场办结"


def test_steps_round_trip_through_bpmn() -> None:
    for item in [*json.loads(DEMO.read_text(encoding="utf-8")),
                 definition().model_dump(mode="json"),
                 definition(joint=False, process=[]).model_dump(mode="json")]:
        original = ItemDefinition.model_validate(item)
        document = render_bpmn(original)
        check_structure(document)
        parsed = parse_bpmn(document)
        assert parsed.steps == original.process, original.name
        assert (parsed.item_code, parsed.name, parsed.case_type) == (
            original.item_code, original.name, original.case_type)


def test_names_are_escaped_and_codes_never_become_ids() -> None:
    odd = definition(name="A&B <事项> \"引号\"", process=[
        {"code": "1 审查/初审", "name": "审查 & <核实>", "role": "approver"},
        {"code": "会审", "name": "会审", "role": "approver", "departments": ["甲&乙", "<丙>"]}])
    document = render_bpmn(odd)
    process, nodes = check_structure(document)
    assert process.get("name") == "A&B <事项> \"引号\""
    assert nodes["Step_1"].get(q(ZWFW_NS, "stepCode")) == "1 审查/初审"
    assert parse_bpmn(document).steps == odd.process


def test_a_diagram_edited_in_a_modeler_still_reads() -> None:
    """Without our extension attributes a task's id is its code and the candidate group its role."""
    document = render_bpmn(definition())
    root = ET.fromstring(document)
    for element in root.iter():
        for name in [a for a in element.attrib if a.startswith(f"{{{ZWFW_NS}}}") and not a.endswith("kind")]:
            del element.attrib[name]
    parsed = parse_bpmn(ET.tostring(root))
    assert [(s.code, s.name, s.role) for s in parsed.steps] == [
        ("Step_1", "受理审查", "approver"), ("Step_2_split", "联合审查（自然资源和规划分局）", "approver"),
        ("Step_3", "审批决定", "department_head")]
    assert parsed.steps[1].departments == ["联合审查（自然资源和规划分局）", "联合审查（农业农村局）",
                                           "联合审查（住房和城乡建设局）"]
    assert parsed.case_type == "2"  # from the decision gateway


@pytest.mark.parametrize("breakage, message", [
    (lambda p: ET.SubElement(p, q(BPMN_NS, "startEvent"), {"id": "Another"}), "开始事件，实际 2 个"),
    (lambda p: p.find(q(BPMN_NS, "sequenceFlow")).set("targetRef", "Nowhere"), "不存在"),
    (lambda p: p.find(f"{q(BPMN_NS, 'sequenceFlow')}[@id='Flow_5']").set("targetRef", "Step_3"), "汇合"),
])
def test_a_broken_document_is_refused(breakage: Any, message: str) -> None:
    root = ET.fromstring(render_bpmn(definition()))
    breakage(root.find(q(BPMN_NS, "process")))
    with pytest.raises(BpmnError, match=message):
        parse_bpmn(ET.tostring(root))
    with pytest.raises(BpmnError, match="XML"):
        parse_bpmn("<not xml")


SURVEYED = [
    {"code": "review", "name": "受理审查", "role": "approver"},
    {"code": "survey", "name": "现场核查", "role": "approver", "condition": "site_survey",
     "limit": {"value": 5, "unit": "working_days"}},
    {"code": "decide", "name": "审批决定", "role": "department_head"},
]


def test_a_conditional_step_is_an_exclusive_gateway_around_it_and_round_trips() -> None:
    original = definition(joint=False, process=SURVEYED)
    document = render_bpmn(original)
    _, nodes = check_structure(document)
    gate, merge = nodes["Step_2_gate"], nodes["Step_2_merge"]
    assert gate.tag == merge.tag == q(BPMN_NS, "exclusiveGateway")
    assert gate.get(q(ZWFW_NS, "condition")) == "site_survey" and gate.get("default")
    assert parse_bpmn(document).steps == original.process
    tasks = user_tasks(document)
    assert (tasks["Step_2"].condition, tasks["Step_2"].order, tasks["Step_3"].condition) == ("site_survey", 1, "")


def test_a_condition_on_the_first_or_a_joint_step_is_refused() -> None:
    first = definition(joint=False, process=[SURVEYED[1], SURVEYED[2]])
    assert any("条件" in issue.message for issue in validate_definition(first))
    joint = definition(process=[SURVEYED[0], {**definition().process[1].model_dump(mode="json"),
                                              "condition": "site_survey"}, SURVEYED[2]])
    assert any("条件" in issue.message for issue in validate_definition(joint))
    assert not [i for i in validate_definition(definition(joint=False, process=SURVEYED)) if "条件" in i.message]

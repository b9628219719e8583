"""An item's process as BPMN 2.0 XML (the exchange format for processes).

Modelling tools (bpmn.io, Camunda Modeler, Flowable) and the approval service read one standard format
instead of our JSON. The mapping from the catalogue's `ProcessStep`s is fixed and reversible, so
`parse_bpmn(render_bpmn(item))` gives the same steps back:

- the item → `process` `Process_<item_code>`, name = item name, with `zwfw:itemCode`, `zwfw:caseType`
  and `zwfw:version`;
- 申请 → `startEvent` `StartEvent_apply`;
- 受理 (done by acceptance, not a step) → `userTask` `Task_accept`, `zwfw:kind="accept"`, candidateGroups
  `window_clerk`;
- step n without departments → `userTask` `Step_<n>`: name = step name, `camunda:candidateGroups` = role,
  `zwfw:stepCode` = code, the limit as `extensionElements/zwfw:limit` (`value`, `unit`, `note`);
- step n with departments (并联审批) → `parallelGateway` `Step_<n>_split` (Diverging; `zwfw:stepCode`,
  `zwfw:stepName`, `zwfw:role`, the limit) → one `userTask` `Step_<n>_dept_<k>` per department, in order
  (`zwfw:department`, candidateGroups = role, the limit) → `parallelGateway` `Step_<n>_join` (Converging);
- 决定 (承诺件) → `exclusiveGateway` `Gateway_decision` → `endEvent` `EndEvent_approved` (准予, condition
  `${decision == 'approve'}`) and `EndEvent_denied` (不予, `${decision == 'deny'}`);
- 当场办结 (即办件) → `endEvent` `EndEvent_done` after the last step, no decision gateway.

Element ids are generated (`Step_<n>`), never taken from step codes, which need not be XML names; the
code travels in `zwfw:stepCode`. The request for supplements (补正) is not a path here: approval pauses the
step's task and resumes the same task, so it is no sequence flow. Every flow node has a `BPMNShape` and
every sequence flow a `BPMNEdge`, laid out left to right, so a modeler opens the file with a diagram.

Reading the format back (`parse_bpmn`, `user_tasks`) lives in `services.common.contracts.bpmn`, because
approval reads the same documents to execute them; only writing is disclosure's.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from services.common.contracts.bpmn import (
    BPMN_NS,
    BPMNDI_NS,
    CAMUNDA_NS,
    DC_NS,
    DI_NS,
    FORMAT_VERSION,
    TARGET_NS,
    XSI_NS,
    ZWFW_NS,
)
from services.common.contracts.bpmn import q as _q
from services.common.contracts.payloads import TimeLimit
from services.disclosure.domain.catalogue import ItemDefinition, describe_limit

_PREFIXES = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS, "xsi": XSI_NS,
             "camunda": CAMUNDA_NS, "zwfw": ZWFW_NS}
for _prefix, _uri in _PREFIXES.items():
    # ElementTree's registry is process-wide; these are the conventional prefixes, so tools show them.
    ET.register_namespace(_prefix, _uri)

# Layout (pixels, left to right along one centre line; parallel lanes stacked around it).
TASK_W, TASK_H = 120, 80
EVENT = 36
GATEWAY = 50
H_GAP = 50
LANE_PITCH = 100


@dataclass
class _Node:
    id: str
    kind: str  # startEvent / userTask / parallelGateway / exclusiveGateway / endEvent
    x: float
    y: float
    w: float
    h: float
    element: ET.Element

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w, self.y + self.h / 2)

    @property
    def left(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


class _Builder:
    def __init__(self, process: ET.Element) -> None:
        self.process = process
        self.nodes: list[_Node] = []
        self.flows: list[tuple[ET.Element, list[tuple[float, float]]]] = []

    def node(self, kind: str, node_id: str, name: str, x: float, cy: float, **attrs: str) -> _Node:
        w, h = {"startEvent": (EVENT, EVENT), "endEvent": (EVENT, EVENT), "userTask": (TASK_W, TASK_H),
                "parallelGateway": (GATEWAY, GATEWAY), "exclusiveGateway": (GATEWAY, GATEWAY)}[kind]
        element = ET.SubElement(self.process, _q(BPMN_NS, kind),
                                {"id": node_id, **({"name": name} if name else {}), **attrs})
        node = _Node(node_id, kind, x, cy - h / 2, w, h, element)
        self.nodes.append(node)
        return node

    def flow(self, source: _Node, target: _Node, name: str = "", condition: str = "",
             waypoints: list[tuple[float, float]] | None = None) -> str:
        flow_id = f"Flow_{len(self.flows) + 1}"
        attrs = {"id": flow_id, "sourceRef": source.id, "targetRef": target.id}
        if name:
            attrs["name"] = name
        element = ET.SubElement(self.process, _q(BPMN_NS, "sequenceFlow"), attrs)
        if condition:
            expression = ET.SubElement(element, _q(BPMN_NS, "conditionExpression"),
                                       {_q(XSI_NS, "type"): "bpmn:tFormalExpression"})
            expression.text = condition
        # incoming/outgoing references are optional in BPMN but modelers write them; they follow any
        # extensionElements, which are added before the node's first flow.
        ET.SubElement(source.element, _q(BPMN_NS, "outgoing")).text = flow_id
        ET.SubElement(target.element, _q(BPMN_NS, "incoming")).text = flow_id
        self.flows.append((element, waypoints or [source.right, target.left]))
        return flow_id


def _limit_extension(element: ET.Element, limit: TimeLimit | None) -> None:
    if limit is None:
        return
    extensions = ET.SubElement(element, _q(BPMN_NS, "extensionElements"))
    ET.SubElement(extensions, _q(ZWFW_NS, "limit"),
                  {"value": str(limit.value), "unit": limit.unit.value, "note": limit.note})


def _documentation(element: ET.Element, text: str) -> None:
    ET.SubElement(element, _q(BPMN_NS, "documentation")).text = text


def render_bpmn(definition: ItemDefinition, version: int | None = None) -> str:
    """The item's process as a BPMN 2.0 document with its diagram (BPMNDI)."""
    root = ET.Element(_q(BPMN_NS, "definitions"), {
        "id": "Definitions_catalogue", "targetNamespace": TARGET_NS, "exporter": "zwfw disclosure",
        "exporterVersion": FORMAT_VERSION, _q(ZWFW_NS, "formatVersion"): FORMAT_VERSION,
    })
    process_id = f"Process_{definition.item_code}"  # item codes are [0-9A-Za-z._-]: a valid XML name after the prefix
    # Executable: approval runs this very document (SpiffWorkflow), and engines skip non-executable processes.
    process_attrs = {"id": process_id, "name": definition.name, "isExecutable": "true",
                     _q(ZWFW_NS, "itemCode"): definition.item_code, _q(ZWFW_NS, "caseType"): definition.case_type}
    if version is not None:
        process_attrs[_q(ZWFW_NS, "version")] = str(version)
    process = ET.SubElement(root, _q(BPMN_NS, "process"), process_attrs)
    _documentation(process, f"{definition.department}；承诺时限 {describe_limit(definition.promised_limit)}，"
                             f"法定时限 {describe_limit(definition.legal_limit)}")

    widest = max((len(s.departments) for s in definition.process), default=1)
    cy = 80 + (max(widest, 2) - 1) * LANE_PITCH / 2 + TASK_H / 2  # room above the line for stacked lanes
    b = _Builder(process)
    x = 160.0
    start = b.node("startEvent", "StartEvent_apply", "申请", x, cy)
    x += EVENT + H_GAP
    accept = b.node("userTask", "Task_accept", "受理", x, cy,
                    **{_q(CAMUNDA_NS, "candidateGroups"): "window_clerk", _q(ZWFW_NS, "kind"): "accept"})
    b.flow(start, accept)
    x += TASK_W + H_GAP
    previous = accept
    for n, step in enumerate(definition.process, start=1):
        if not step.departments and step.condition:
            # 条件环节 (e.g. 现场核查): only for a case whose earlier step set the condition; else past it.
            gate = b.node("exclusiveGateway", f"Step_{n}_gate", f"是否{step.name}", x, cy,
                          gatewayDirection="Diverging", **{_q(ZWFW_NS, "condition"): step.condition})
            b.flow(previous, gate)
            x += GATEWAY + H_GAP
            task = b.node("userTask", f"Step_{n}", step.name, x, cy,
                          **{_q(CAMUNDA_NS, "candidateGroups"): step.role, _q(ZWFW_NS, "stepCode"): step.code})
            _limit_extension(task.element, step.limit)
            x += TASK_W + H_GAP
            merge = b.node("exclusiveGateway", f"Step_{n}_merge", "", x, cy, gatewayDirection="Converging")
            b.flow(gate, task, "是", f"${{{step.condition} == True}}")
            b.flow(task, merge)
            below = cy + LANE_PITCH * 0.8
            skip = b.flow(gate, merge, "否", waypoints=[(gate.cx, gate.y + gate.h), (gate.cx, below),
                                                        (merge.cx, below), (merge.cx, merge.y + merge.h)])
            gate.element.set("default", skip)  # no condition on the skip: it is what the gateway does otherwise
            previous = merge
            x += GATEWAY + H_GAP
            continue
        if not step.departments:
            task = b.node("userTask", f"Step_{n}", step.name, x, cy,
                          **{_q(CAMUNDA_NS, "candidateGroups"): step.role, _q(ZWFW_NS, "stepCode"): step.code})
            _limit_extension(task.element, step.limit)
            b.flow(previous, task)
            previous = task
            x += TASK_W + H_GAP
            continue
        split = b.node("parallelGateway", f"Step_{n}_split", f"{step.name}（并联审批）", x, cy,
                       gatewayDirection="Diverging",
                       **{_q(ZWFW_NS, "stepCode"): step.code, _q(ZWFW_NS, "stepName"): step.name,
                          _q(ZWFW_NS, "role"): step.role})
        _limit_extension(split.element, step.limit)
        b.flow(previous, split)
        x += GATEWAY + H_GAP
        lanes = len(step.departments)
        lane_tasks = []
        for k, department in enumerate(step.departments, start=1):
            lane_cy = cy + (k - 1 - (lanes - 1) / 2) * LANE_PITCH
            task = b.node("userTask", f"Step_{n}_dept_{k}", f"{step.name}（{department}）", x, lane_cy,
                          **{_q(CAMUNDA_NS, "candidateGroups"): step.role, _q(ZWFW_NS, "stepCode"): step.code,
                             _q(ZWFW_NS, "department"): department})
            _limit_extension(task.element, step.limit)
            lane_tasks.append(task)
        x += TASK_W + H_GAP
        join = b.node("parallelGateway", f"Step_{n}_join", "", x, cy, gatewayDirection="Converging")
        for task in lane_tasks:
            if task.cy == cy:  # the middle lane: straight through
                b.flow(split, task)
                b.flow(task, join)
                continue
            # Other lanes leave the split's top or bottom corner and enter the join's, at right angles.
            split_edge = split.y if task.cy < cy else split.y + split.h
            join_edge = join.y if task.cy < cy else join.y + join.h
            b.flow(split, task, waypoints=[(split.cx, split_edge), (split.cx, task.cy), task.left])
            b.flow(task, join, waypoints=[task.right, (join.cx, task.cy), (join.cx, join_edge)])
        previous = join
        x += GATEWAY + H_GAP

    if definition.case_type == "1":  # 即办件: decided on the spot, no decision to branch on
        done = b.node("endEvent", "EndEvent_done", "当场办结", x, cy)
        b.flow(previous, done)
    else:
        decision = b.node("exclusiveGateway", "Gateway_decision", "决定", x, cy, gatewayDirection="Diverging")
        b.flow(previous, decision)
        x += GATEWAY + H_GAP * 2
        approved = b.node("endEvent", "EndEvent_approved", "准予", x, cy)
        denied = b.node("endEvent", "EndEvent_denied", "不予", x, cy + LANE_PITCH)
        b.flow(decision, approved, "准予", "${decision == 'approve'}")
        b.flow(decision, denied, "不予", "${decision == 'deny'}",
               waypoints=[(decision.cx, decision.y + decision.h), (decision.cx, denied.cy), denied.left])

    diagram = ET.SubElement(root, _q(BPMNDI_NS, "BPMNDiagram"), {"id": "BPMNDiagram_1"})
    plane = ET.SubElement(diagram, _q(BPMNDI_NS, "BPMNPlane"), {"id": "BPMNPlane_1", "bpmnElement": process_id})
    for node in b.nodes:
        attrs = {"id": f"{node.id}_di", "bpmnElement": node.id}
        if node.kind == "exclusiveGateway":
            attrs["isMarkerVisible"] = "true"
        shape = ET.SubElement(plane, _q(BPMNDI_NS, "BPMNShape"), attrs)
        ET.SubElement(shape, _q(DC_NS, "Bounds"), {"x": _num(node.x), "y": _num(node.y),
                                                   "width": _num(node.w), "height": _num(node.h)})
    for flow, points in b.flows:
        edge = ET.SubElement(plane, _q(BPMNDI_NS, "BPMNEdge"),
                             {"id": f"{flow.get('id')}_di", "bpmnElement": flow.get("id", "")})
        for px, py in points:
            ET.SubElement(edge, _q(DI_NS, "waypoint"), {"x": _num(px), "y": _num(py)})

    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"

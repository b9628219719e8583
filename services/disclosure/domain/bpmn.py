"""An item's process as BPMN 2.0 XML (the exchange format for processes), and back.

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

The parser follows the sequence flows from the start event rather than reading ids, so a diagram edited in
a modeler still reads: a task without `zwfw:stepCode` takes its id as code, the role falls back to
`flowable:candidateGroups`, a department task without `zwfw:department` gives its name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pydantic import ValidationError

from services.common.contracts.catalogue import ProcessStep
from services.common.contracts.payloads import LimitUnit, TimeLimit
from services.disclosure.domain.catalogue import ItemDefinition, describe_limit

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
FLOWABLE_NS = "http://flowable.org/bpmn"
ZWFW_NS = "https://zwfw.example.gov.cn/schema/bpmn/1.0"
TARGET_NS = "https://zwfw.example.gov.cn/bpmn/catalogue"
FORMAT_VERSION = "1"

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


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


class BpmnError(ValueError):
    """A BPMN document that does not describe a catalogue process (missing start, dangling flow …)."""


@dataclass
class BpmnProcess:
    """What `parse_bpmn` recovers: the item's identity as written, whether it is a 即办件, and its steps."""

    item_code: str
    name: str
    case_type: str
    steps: list[ProcessStep] = field(default_factory=list)


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
             waypoints: list[tuple[float, float]] | None = None) -> None:
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
    process_attrs = {"id": process_id, "name": definition.name, "isExecutable": "false",
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


# ---- reading ------------------------------------------------------------------------------------------

_FLOW_NODES = {"startEvent", "endEvent", "userTask", "task", "manualTask", "serviceTask",
               "parallelGateway", "exclusiveGateway", "inclusiveGateway"}
_TASKS = {"userTask", "task", "manualTask", "serviceTask"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _role(element: ET.Element) -> str:
    return (element.get(_q(CAMUNDA_NS, "candidateGroups")) or element.get(_q(FLOWABLE_NS, "candidateGroups"))
            or element.get(_q(ZWFW_NS, "role")) or "").strip()


def _limit(element: ET.Element) -> TimeLimit | None:
    found = element.find(f"{_q(BPMN_NS, 'extensionElements')}/{_q(ZWFW_NS, 'limit')}")
    if found is None:
        return None
    try:
        return TimeLimit(value=int(found.get("value", "")), unit=LimitUnit(found.get("unit", "")),
                         note=found.get("note", ""))
    except (ValueError, ValidationError) as exc:
        raise BpmnError(f"{element.get('id')}：时限（zwfw:limit）无效：{exc}") from exc


def parse_bpmn(document: str | bytes) -> BpmnProcess:
    """The catalogue process a BPMN document describes, following its sequence flows from the start."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise BpmnError(f"不是有效的 XML：{exc}") from exc
    process = root.find(_q(BPMN_NS, "process"))
    if root.tag != _q(BPMN_NS, "definitions") or process is None:
        raise BpmnError("不是 BPMN 2.0 文档：缺少 bpmn:definitions/bpmn:process")
    nodes = {el.get("id", ""): el for el in process if _local(el.tag) in _FLOW_NODES}
    outgoing: dict[str, list[str]] = {}
    for flow in process.iter(_q(BPMN_NS, "sequenceFlow")):
        source, target = flow.get("sourceRef", ""), flow.get("targetRef", "")
        if source not in nodes or target not in nodes:
            raise BpmnError(f"顺序流 {flow.get('id')} 的起点或终点不存在")
        outgoing.setdefault(source, []).append(target)
    starts = [i for i, el in nodes.items() if _local(el.tag) == "startEvent"]
    if len(starts) != 1:
        raise BpmnError(f"应有且只有一个开始事件，实际 {len(starts)} 个")

    def only_next(node_id: str) -> str:
        targets = outgoing.get(node_id, [])
        if len(targets) != 1:
            raise BpmnError(f"{node_id} 应有且只有一条出口顺序流，实际 {len(targets)} 条")
        return targets[0]

    steps: list[ProcessStep] = []
    decided = False
    seen: set[str] = set()
    current = only_next(starts[0])
    while True:
        if current in seen:
            raise BpmnError(f"流程在 {current} 处成环，无法还原为顺序环节")
        seen.add(current)
        element = nodes[current]
        kind = _local(element.tag)
        if kind == "endEvent":
            break
        if kind == "exclusiveGateway":
            decided = True
            break
        if kind in _TASKS:
            if element.get(_q(ZWFW_NS, "kind")) != "accept":
                steps.append(_step(element, code=element.get(_q(ZWFW_NS, "stepCode")) or current,
                                   name=element.get("name") or current, departments=[]))
            current = only_next(current)
            continue
        if kind == "parallelGateway":
            branches = outgoing.get(current, [])
            if len(branches) < 2:
                raise BpmnError(f"并行网关 {current} 应至少分出两条并联分支")
            departments: list[str] = []
            joins: set[str] = set()
            for branch in branches:
                task = nodes[branch]
                if _local(task.tag) not in _TASKS:
                    raise BpmnError(f"并行网关 {current} 的分支 {branch} 应为任务")
                departments.append(task.get(_q(ZWFW_NS, "department")) or task.get("name") or branch)
                joins.add(only_next(branch))
            if len(joins) != 1 or _local(nodes[next(iter(joins))].tag) != "parallelGateway":
                raise BpmnError(f"并行网关 {current} 的分支应汇合到同一个并行网关")
            first = nodes[branches[0]]
            source = element if element.get(_q(ZWFW_NS, "stepCode")) else first
            steps.append(_step(source, code=source.get(_q(ZWFW_NS, "stepCode")) or current,
                               name=element.get(_q(ZWFW_NS, "stepName")) or first.get("name") or current,
                               departments=departments, role_from=first))
            current = only_next(next(iter(joins)))
            continue
        raise BpmnError(f"不支持的流程元素 {kind}（{current}）")

    case_type = process.get(_q(ZWFW_NS, "caseType")) or ("2" if decided else "1")
    return BpmnProcess(item_code=process.get(_q(ZWFW_NS, "itemCode"), ""), name=process.get("name", ""),
                       case_type=case_type, steps=steps)


def _step(element: ET.Element, code: str, name: str, departments: list[str],
          role_from: ET.Element | None = None) -> ProcessStep:
    role = _role(element) or (_role(role_from) if role_from is not None else "")
    limit = _limit(element)
    if limit is None and role_from is not None:
        limit = _limit(role_from)
    return ProcessStep(code=code, name=name, role=role, limit=limit, departments=departments)

"""Reading an item's process as BPMN 2.0 XML, the exchange format that travels with the item version
(`ItemVersionPublished.process_bpmn`) and the case (`CaseAccepted.process_bpmn`).

Disclosure (the catalogue) writes it (`services/disclosure/domain/bpmn.py` documents the mapping and the
element ids) and reads back what a modeler gives; approval executes it and needs, for every user task,
the step it stands for. Both read it here so the two readings cannot drift apart; writing stays with
disclosure, the only producer.

The reading follows the sequence flows from the start event rather than trusting ids, so a diagram edited
in a modeler still reads: a task without `zwfw:stepCode` takes its id as code, the role falls back to
`flowable:candidateGroups`, a department task without `zwfw:department` gives its name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from services.common.contracts.catalogue import ProcessStep
from services.common.contracts.payloads import LimitUnit, TimeLimit

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

_FLOW_NODES = {"startEvent", "endEvent", "userTask", "task", "manualTask", "serviceTask",
               "parallelGateway", "exclusiveGateway", "inclusiveGateway"}
_TASKS = {"userTask", "task", "manualTask", "serviceTask"}

UserTaskKind = Literal["accept", "step", "department"]


def q(ns: str, name: str) -> str:
    """A qualified name in ElementTree's `{namespace}name` form."""
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


@dataclass(frozen=True)
class BpmnUserTask:
    """One `userTask` of the process and the catalogue step (办理环节) it stands for.

    `order` is the index of its step in `parse_bpmn(...).steps` (so in the item's and the case's
    `process`); the departments of one joint step share it. 受理 is done by acceptance before any step and
    is no step itself, so the accept task has order -1.
    """

    element_id: str
    name: str
    kind: UserTaskKind  # accept: 受理; step: a step of its own; department: one lane of a joint step (并联审批)
    step_code: str
    step_name: str
    role: str
    department: str  # the department (并联部门) of a department task; otherwise zwfw:department, usually ""
    limit: TimeLimit | None
    order: int
    condition: str = ""  # the routing condition the step runs on (ProcessStep.condition), "" if always


# ---- parsing ------------------------------------------------------------------------------------------

class _RefuseDoctype(ET.TreeBuilder):
    """ElementTree never fetches external entities, but expat still expands internal ones declared in a
    DOCTYPE, which is how billion-laughs style inputs blow up memory. A BPMN file from a modeler or from
    us never has a DOCTYPE, so any is refused outright, when it starts and before its subset is read."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise BpmnError(f"BPMN 文档不得含 DOCTYPE 声明（<!DOCTYPE {name}>）")


def _parse_xml(document: str | bytes) -> ET.Element:
    parser = ET.XMLParser(target=_RefuseDoctype())
    try:
        parser.feed(document)
        return parser.close()
    except ET.ParseError as exc:
        raise BpmnError(f"不是有效的 XML：{exc}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _role(element: ET.Element) -> str:
    return (element.get(q(CAMUNDA_NS, "candidateGroups")) or element.get(q(FLOWABLE_NS, "candidateGroups"))
            or element.get(q(ZWFW_NS, "role")) or "").strip()


def _limit(element: ET.Element) -> TimeLimit | None:
    found = element.find(f"{q(BPMN_NS, 'extensionElements')}/{q(ZWFW_NS, 'limit')}")
    if found is None:
        return None
    try:
        return TimeLimit(value=int(found.get("value", "")), unit=LimitUnit(found.get("unit", "")),
                         note=found.get("note", ""))
    except (ValueError, ValidationError) as exc:
        raise BpmnError(f"{element.get('id')}：时限（zwfw:limit）无效：{exc}") from exc


def _department(task: ET.Element, fallback: str) -> str:
    return task.get(q(ZWFW_NS, "department")) or task.get("name") or fallback


@dataclass(frozen=True)
class _Stage:
    """One stop of the walk from the start: the accept task, a step's task, or a joint step's split with
    its department tasks (branches)."""

    kind: Literal["accept", "step", "joint"]
    element: ET.Element
    branches: tuple[ET.Element, ...] = ()
    step: ProcessStep | None = None  # None for accept


@dataclass(frozen=True)
class _Walk:
    process: ET.Element
    nodes: dict[str, ET.Element]
    stages: list[_Stage]
    decided: bool  # ended on a decision gateway (承诺件)


def _walk(document: str | bytes) -> _Walk:
    """Follows the sequence flows from the single start event to the end or the decision gateway."""
    root = _parse_xml(document)
    process = root.find(q(BPMN_NS, "process"))
    if root.tag != q(BPMN_NS, "definitions") or process is None:
        raise BpmnError("不是 BPMN 2.0 文档：缺少 bpmn:definitions/bpmn:process")
    nodes = {el.get("id", ""): el for el in process if _local(el.tag) in _FLOW_NODES}
    outgoing: dict[str, list[str]] = {}
    for flow in process.iter(q(BPMN_NS, "sequenceFlow")):
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

    stages: list[_Stage] = []
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
        if kind == "exclusiveGateway" and element.get(q(ZWFW_NS, "condition")):
            # A conditional step: the gateway goes to the step or, by default, past it to the merge.
            condition = element.get(q(ZWFW_NS, "condition"), "")
            targets = outgoing.get(current, [])
            tasks = [t for t in targets if _local(nodes[t].tag) in _TASKS]
            merges = [t for t in targets if _local(nodes[t].tag) == "exclusiveGateway"]
            if len(targets) != 2 or len(tasks) != 1 or len(merges) != 1 or only_next(tasks[0]) != merges[0]:
                raise BpmnError(f"条件网关 {current} 应分出一个任务和一条跳过它的路径，并汇合到同一个网关")
            task = nodes[tasks[0]]
            seen.add(tasks[0])
            stages.append(_Stage("step", task, step=_step(
                task, code=task.get(q(ZWFW_NS, "stepCode")) or tasks[0], name=task.get("name") or tasks[0],
                departments=[], condition=condition)))
            current = only_next(merges[0])
            continue
        if kind == "exclusiveGateway":
            decided = True
            break
        if kind in _TASKS:
            if element.get(q(ZWFW_NS, "kind")) == "accept":
                stages.append(_Stage("accept", element))
            else:
                stages.append(_Stage("step", element, step=_step(
                    element, code=element.get(q(ZWFW_NS, "stepCode")) or current,
                    name=element.get("name") or current, departments=[])))
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
                departments.append(_department(task, branch))
                joins.add(only_next(branch))
            if len(joins) != 1 or _local(nodes[next(iter(joins))].tag) != "parallelGateway":
                raise BpmnError(f"并行网关 {current} 的分支应汇合到同一个并行网关")
            first = nodes[branches[0]]
            source = element if element.get(q(ZWFW_NS, "stepCode")) else first
            step = _step(source, code=source.get(q(ZWFW_NS, "stepCode")) or current,
                         name=element.get(q(ZWFW_NS, "stepName")) or first.get("name") or current,
                         departments=departments, role_from=first)
            stages.append(_Stage("joint", element, tuple(nodes[b] for b in branches), step))
            current = only_next(next(iter(joins)))
            continue
        raise BpmnError(f"不支持的流程元素 {kind}（{current}）")
    return _Walk(process, nodes, stages, decided)


def _step(element: ET.Element, code: str, name: str, departments: list[str],
          role_from: ET.Element | None = None, condition: str = "") -> ProcessStep:
    role = _role(element) or (_role(role_from) if role_from is not None else "")
    limit = _limit(element)
    if limit is None and role_from is not None:
        limit = _limit(role_from)
    try:
        return ProcessStep(code=code, name=name, role=role, limit=limit, departments=departments,
                           condition=condition)
    except ValidationError as exc:
        raise BpmnError(f"环节 {code} 的条件「{condition}」不是合法的条件名") from exc


def parse_bpmn(document: str | bytes) -> BpmnProcess:
    """The catalogue process a BPMN document describes, following its sequence flows from the start."""
    walk = _walk(document)
    steps = [stage.step for stage in walk.stages if stage.step is not None]
    case_type = walk.process.get(q(ZWFW_NS, "caseType")) or ("2" if walk.decided else "1")
    return BpmnProcess(item_code=walk.process.get(q(ZWFW_NS, "itemCode"), ""), name=walk.process.get("name", ""),
                       case_type=case_type, steps=steps)


def user_tasks(document: str | bytes) -> dict[str, BpmnUserTask]:
    """Every `userTask` of the process by element id, with the step it stands for.

    A user task the walk from the start never reaches is refused: an engine would never offer it, and a
    task nobody can place in the process is a modelling mistake, not something to guess around.
    """
    walk = _walk(document)
    found: dict[str, BpmnUserTask] = {}
    order = -1
    for stage in walk.stages:
        element_id = stage.element.get("id", "")
        if stage.kind == "accept":
            if _local(stage.element.tag) == "userTask":
                found[element_id] = BpmnUserTask(
                    element_id=element_id, name=stage.element.get("name", ""), kind="accept",
                    step_code=stage.element.get(q(ZWFW_NS, "stepCode")) or element_id,
                    step_name=stage.element.get("name") or element_id, role=_role(stage.element),
                    department=stage.element.get(q(ZWFW_NS, "department"), ""), limit=_limit(stage.element),
                    order=-1)
            continue
        order += 1
        step = stage.step
        assert step is not None  # every stage but accept carries its step
        if stage.kind == "step":
            if _local(stage.element.tag) == "userTask":
                found[element_id] = BpmnUserTask(
                    element_id=element_id, name=stage.element.get("name", ""), kind="step",
                    step_code=step.code, step_name=step.name, role=step.role,
                    department=stage.element.get(q(ZWFW_NS, "department"), ""), limit=step.limit, order=order,
                    condition=step.condition)
            continue
        for task, department in zip(stage.branches, step.departments, strict=True):
            if _local(task.tag) != "userTask":
                continue
            task_id = task.get("id", "")
            found[task_id] = BpmnUserTask(
                element_id=task_id, name=task.get("name", ""), kind="department", step_code=step.code,
                step_name=step.name, role=_role(task) or step.role, department=department,
                limit=_limit(task) or step.limit, order=order)
    stray = sorted(i for i, el in walk.nodes.items() if _local(el.tag) == "userTask" and i not in found)
    if stray:
        raise BpmnError(f"用户任务 {'、'.join(stray)} 不在从开始事件出发的流程路径上")
    return found

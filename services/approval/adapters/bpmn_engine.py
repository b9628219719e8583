"""Runs a case's BPMN 2.0 process with SpiffWorkflow (docs/decisions.md 34).

The engine only routes: which user tasks are ready, and where the process goes when one is done. Who may act,
time limits, claims, pauses, opinions and documents are the service's (domain/, handlers.py); the engine
holds nothing but the routing variables (`decision`, each department's `outcome`), so its state stays small.

Each action loads the case's workflow from its JSON, applies the step and writes the JSON back, in the same
transaction as the case row (locked) and the events. Parsed process specs are cached by the XML's hash:
parsing with the schema check costs ~8 ms, loading a case's state ~0.3 ms.

Safety of what a modeler may put in a file: conditions are evaluated by the engine as Python, so only a
small comparison language is allowed in them (names, string literals, ==, !=, and, or, not, parentheses),
and a process with script, service or send tasks, call activities or a DOCTYPE is refused before parsing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.util.task import TaskState

# Camunda/Flowable write conditions as `${decision == 'approve'}`; the engine evaluates plain Python.
_EXPRESSION = re.compile(r"^\s*\$\{(.*)\}\s*$", re.S)
_TOKEN = re.compile(r"\s*(?:(==|!=|\(|\))|('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|([A-Za-z_][A-Za-z0-9_]*))")
_ALLOWED_WORDS = frozenset({"and", "or", "not", "True", "False", "None"})
# Elements that would run code or reach outside: never accepted from a file.
_FORBIDDEN = re.compile(r"<(?:[\w-]+:)?(scriptTask|serviceTask|sendTask|businessRuleTask|callActivity|script)\b")


class ProcessRefused(ValueError):
    """The BPMN cannot be run here (not parseable, not executable, or asks for what we do not allow)."""


class TaskNotReady(LookupError):
    def __init__(self, element_id: str, ready: list[str]) -> None:
        super().__init__(f"{element_id} is not ready; ready: {ready}")
        self.element_id, self.ready = element_id, ready


def check_condition(expression: str) -> str:
    """The condition as the engine evaluates it, or ProcessRefused when it is outside the allowed language."""
    match = _EXPRESSION.match(expression)
    text = match.group(1) if match else expression
    position, previous_was_name = 0, False
    while position < len(text.rstrip()):
        token = _TOKEN.match(text, position)
        if token is None:  # anything else: attribute access, subscripts, arithmetic, lambdas …
            raise ProcessRefused(f"condition not allowed: {expression!r}")
        operator, word = token.group(1), token.group(3)
        if operator == "(" and previous_was_name:  # a call
            raise ProcessRefused(f"condition not allowed: {expression!r}")
        if word is not None and (word.startswith("_") or (word[0].isupper() and word not in _ALLOWED_WORDS)):
            raise ProcessRefused(f"condition not allowed: {expression!r}")
        previous_was_name = word is not None and word not in _ALLOWED_WORDS
        position = token.end()
    return text


class _ConditionEngine(PythonScriptEngine):
    """Evaluates the routing conditions only, each checked against the allowed language first."""

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        return super().evaluate(task, check_condition(expression), external_context)

    def validate(self, expression: str) -> None:
        super().validate(check_condition(expression))

    def execute(self, task: Any, script: str, external_context: Any = None) -> Any:
        raise ProcessRefused("scripts are not run")


ENGINE = _ConditionEngine()
# Every task state change is logged at INFO: a line per change per action would drown the service's own log.
logging.getLogger("spiff").setLevel(logging.WARNING)
_SERIALIZER = BpmnWorkflowSerializer()


@dataclass(frozen=True)
class Progress:
    """Where a case's process stands: the user tasks ready now, and how it ended (if it did)."""

    ready: tuple[str, ...]  # element ids of the ready user tasks
    completed: bool
    end_event: str | None  # e.g. EndEvent_approved, EndEvent_denied, EndEvent_done


class ProcessLibrary:
    """Parsed process specs, by the sha256 of their XML (a published version's process never changes)."""

    def __init__(self, capacity: int = 256) -> None:
        self._specs: OrderedDict[str, BpmnProcessSpec] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def spec(self, xml: str) -> BpmnProcessSpec:
        key = hashlib.sha256(xml.encode()).hexdigest()
        with self._lock:
            found = self._specs.get(key)
            if found is not None:
                self._specs.move_to_end(key)
                return found
        spec = _parse(xml)
        with self._lock:
            self._specs[key] = spec
            while len(self._specs) > self._capacity:
                self._specs.popitem(last=False)
        return spec

    def start(self, xml: str) -> BpmnWorkflow:
        workflow = BpmnWorkflow(self.spec(xml), script_engine=ENGINE)
        workflow.do_engine_steps()
        return workflow

    @staticmethod
    def load(state: str) -> BpmnWorkflow:
        workflow = _SERIALIZER.deserialize_json(state)
        workflow.script_engine = ENGINE  # not part of the stored state
        return workflow


def _parse(xml: str) -> BpmnProcessSpec:
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:
        raise ProcessRefused("a process file has no DOCTYPE")
    forbidden = _FORBIDDEN.search(xml)
    if forbidden:
        raise ProcessRefused(f"{forbidden.group(1)} is not allowed in a process")
    try:
        parser = BpmnParser(validator=BpmnValidator())
        parser.add_bpmn_str(xml.encode())
        process_ids = parser.get_process_ids()
        if len(process_ids) != 1:
            raise ProcessRefused(f"expected one process, found {len(process_ids)}")
        spec = parser.get_spec(process_ids[0])
    except ProcessRefused:
        raise
    except Exception as exc:  # the library's own exception types vary by stage (XML, schema, validation)
        raise ProcessRefused(str(exc)) from exc
    # Every condition once now, so a bad one is refused at the first case rather than mid-way through one.
    for task_spec in spec.task_specs.values():
        for condition in getattr(task_spec, "cond_task_specs", None) or []:
            expression = condition[0] if isinstance(condition, tuple) else None
            if isinstance(expression, str):
                check_condition(expression)
    return spec


def dump(workflow: BpmnWorkflow) -> str:
    return str(_SERIALIZER.serialize_json(workflow))


def ready_tasks(workflow: BpmnWorkflow) -> list[str]:
    return [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True)]


def complete(workflow: BpmnWorkflow, element_id: str, data: dict[str, Any] | None = None) -> None:
    """Completes the ready user task `element_id` with routing data and runs the engine to the next wait."""
    tasks = [t for t in workflow.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == element_id]
    if len(tasks) != 1:
        raise TaskNotReady(element_id, ready_tasks(workflow))
    task = tasks[0]
    task.data.update(data or {})
    task.run()
    workflow.do_engine_steps()


def cancel(workflow: BpmnWorkflow) -> None:
    workflow.cancel()


def progress(workflow: BpmnWorkflow) -> Progress:
    ends = [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if type(t.task_spec).__name__ == "EndEvent" or (t.task_spec.bpmn_id or "").startswith("EndEvent")]
    return Progress(ready=tuple(ready_tasks(workflow)), completed=workflow.is_completed(),
                    end_event=ends[-1] if ends else None)

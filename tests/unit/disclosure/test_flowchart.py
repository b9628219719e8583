"""The flow chart (办理流程图) drawn from an item's process: its nodes, lanes, outcomes and escaping."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from services.disclosure.domain.catalogue import ItemDefinition
from services.disclosure.domain.flowchart import LANE_WIDTH, SVG_NS, render_flowchart_svg, wrap

DEMO = Path(__file__).resolve().parents[3] / "services" / "disclosure" / "demo" / "catalogue.json"


def _svg(tag: str) -> str:
    return f"{{{SVG_NS}}}{tag}"


def definition(**changes: Any) -> ItemDefinition:
    base: dict[str, Any] = dict(
        item_code="320102000000-01-0001", name="农村村民住宅建设审批", item_type="01", department="街道办事处",
        region_code="320102001000", case_type="2", joint=True,
        legal_limit={"value": 45, "unit": "working_days"}, promised_limit={"value": 20, "unit": "working_days"},
        process=[
            {"code": "review", "name": "受理审查", "role": "approver", "limit": {"value": 3, "unit": "working_days"}},
            {"code": "joint", "name": "联合审查", "role": "approver", "limit": {"value": 12, "unit": "working_days"},
             "departments": ["自然资源和规划分局", "农业农村局", "住房和城乡建设局"]},
            {"code": "decide", "name": "审批决定", "role": "department_head",
             "limit": {"value": 5, "unit": "hours"}},
        ],
    )
    return ItemDefinition.model_validate(base | changes)


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode())
    assert root.tag == _svg("svg")
    return root


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(_svg("text"))]


def _node(root: ET.Element, node_id: str) -> ET.Element | None:
    return next((g for g in root.iter() if g.get("id") == node_id), None)


def _node_texts(root: ET.Element, node_id: str) -> list[str]:
    node = _node(root, node_id)
    assert node is not None, node_id
    return [t.text or "" for t in node.iter(_svg("text"))]


def test_the_main_path_runs_from_application_through_each_step_to_the_two_outcomes() -> None:
    root = _parse(render_flowchart_svg(definition()))
    assert _node_texts(root, "apply")[0] == "申请"
    assert _node_texts(root, "accept")[0] == "受理"
    review = _node_texts(root, "step-1")
    assert review == ["受理审查", "办理人员：审批人员", "时限：3个工作日"]
    assert _node_texts(root, "step-3") == ["审批决定", "办理人员：科室负责人", "时限：5小时"]
    assert _node_texts(root, "decide") == ["决定"]
    assert _node_texts(root, "grant")[0] == "制证/送达"
    assert _node_texts(root, "deny")[0] == "送达不予许可决定书"
    assert _node_texts(root, "done") == ["办结"]
    texts = _texts(root)
    assert {"准予", "不予"} <= set(texts)
    assert root.find(_svg("title")).text == "农村村民住宅建设审批 办理流程图"  # type: ignore[union-attr]


def test_a_joint_step_forks_into_one_lane_per_department_and_joins_again() -> None:
    root = _parse(render_flowchart_svg(definition()))
    lanes = [_node_texts(root, f"step-2-lane-{n}") for n in (1, 2, 3)]
    assert [lane[0] for lane in lanes] == ["自然资源和规划分局", "农业农村局", "住房和城乡建设局"]
    assert all(lane[1:] == ["联合审查", "时限：12个工作日"] for lane in lanes)
    assert _node(root, "step-2-lane-4") is None
    fork, join = _node(root, "step-2-fork"), _node(root, "step-2-join")
    assert fork is not None and join is not None
    assert float(fork.get("y", 0)) < float(join.get("y", 0))
    assert float(fork.get("width", 0)) == 3 * LANE_WIDTH + 2 * 24  # spans the three lanes
    assert "并联审批：联合审查" in _texts(root)
    # The lanes sit side by side, between the fork and the join.
    rects = [_node(root, f"step-2-lane-{n}").find(_svg("rect")) for n in (1, 2, 3)]  # type: ignore[union-attr]
    xs = [float(r.get("x", 0)) for r in rects]  # type: ignore[union-attr]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert all(float(fork.get("y", 0)) < float(r.get("y", 0)) < float(join.get("y", 0)) for r in rects)  # type: ignore[union-attr]


def test_supplements_return_from_the_review_step_to_the_applicant() -> None:
    root = _parse(render_flowchart_svg(definition()))
    returns = [p for p in root.iter(_svg("path")) if "return" in (p.get("class") or "")]
    assert len(returns) == 1
    assert "补正材料" in _texts(root)
    # It leaves the first step's box and ends at the applicant's (arrowhead at the end).
    review = _node(root, "step-1").find(_svg("rect"))  # type: ignore[union-attr]
    apply = _node(root, "apply").find(_svg("rect"))  # type: ignore[union-attr]
    d = returns[0].get("d", "")
    start, end = d.split()[0], d.split()[-1]
    assert float(start[1:].split(",")[0]) == float(review.get("x", 0))  # type: ignore[union-attr]
    assert float(end[1:].split(",")[0]) == float(apply.get("x", 0))  # type: ignore[union-attr]
    assert returns[0].get("marker-end") == "url(#arrow)"


def test_an_instant_item_is_accepted_and_completed_on_the_spot() -> None:
    instant = definition(case_type="1", joint=False, promised_limit={"value": 0, "unit": "working_days"},
                         process=[{"code": "decide", "name": "登记", "role": "window_clerk"}])
    root = _parse(render_flowchart_svg(instant))
    assert _node_texts(root, "done") == ["当场办结"]
    assert _node(root, "decide") is None and _node(root, "grant") is None
    assert "补正材料" not in _texts(root)
    assert _node_texts(root, "step-1") == ["登记", "办理人员：窗口人员"]  # no limit, no limit line
    zero = definition(case_type="1", joint=False, promised_limit={"value": 0, "unit": "working_days"},
                      process=[{"code": "decide", "name": "登记", "role": "window_clerk",
                                "limit": {"value": 0, "unit": "working_days"}}])
    assert _node_texts(_parse(render_flowchart_svg(zero)), "step-1")[-1] == "时限：即时办结"
    assert "即办件：当场办理" in _node_texts(root, "accept")


def test_an_item_without_steps_still_draws_acceptance_decision_and_return() -> None:
    root = _parse(render_flowchart_svg(definition(joint=False, process=[])))
    assert _node(root, "step-1") is None
    assert _node_texts(root, "decide") == ["决定"]
    assert "补正材料" in _texts(root)  # from 受理 when there is no review step


def test_text_is_escaped_and_long_labels_wrap() -> None:
    nasty = "<script>alert(1)</script> & 审批 \"x\""
    long_name = nasty + "一个很长的事项名称" * 6
    svg = render_flowchart_svg(definition(name=long_name, process=[
        {"code": "a", "name": nasty, "role": "approver"},
        {"code": "b", "name": "联合", "role": "approver", "departments": ["A&B<局>"]}]))
    assert "<script>" not in svg
    root = _parse(svg)
    assert root.find(_svg("title")).text == f"{long_name} 办理流程图"  # type: ignore[union-attr]
    heading = [t.text or "" for t in root.iter(_svg("text")) if t.get("class") == "heading"]
    assert len(heading) > 1 and "".join(heading) == f"{long_name} 办理流程图"  # wrapped to the canvas, not cut
    assert _node_texts(root, "step-2-lane-1")[0] == "A&B<局>"
    step = "".join(_node_texts(root, "step-1")[:2])
    assert nasty.startswith(step[: len(nasty) // 2])  # the name is wrapped over lines, not cut
    assert wrap("一二三四五", 28) == ["一二", "三四", "五"]
    assert wrap("", 100) == [""]


def test_every_demo_item_renders_a_valid_document() -> None:
    for item in json.loads(DEMO.read_text(encoding="utf-8")):
        definition_ = ItemDefinition.model_validate(item)
        root = _parse(render_flowchart_svg(definition_))
        width, height = float(root.get("width", 0)), float(root.get("height", 0))
        assert width > 0 and height > 0
        boxes = []
        for rect in root.iter(_svg("rect")):
            if rect.get("width", "").endswith("%"):
                continue  # the background
            x, y = float(rect.get("x", 0)), float(rect.get("y", 0))
            w, h = float(rect.get("width", 0)), float(rect.get("height", 0))
            assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
            boxes.append((x, y, x + w, y + h))
        for i, a in enumerate(boxes):  # no two nodes (or bars) overlap
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (item["name"], a, b)
        texts = _texts(root)
        assert all(step.name in "".join(texts) for step in definition_.process)

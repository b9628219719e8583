"""An item's flow chart (办理流程图) as SVG, drawn from its process steps.

The guide (办事指南) must show the procedure as a chart (domain.md §9). The chart is rendered from the same
`process` that approval runs, so the published picture cannot drift from what actually happens:

    申请 → 受理 → each step in order → 决定 ─ 准予 → 制证/送达 ─┐
                                         └ 不予 → 送达不予许可决定书 ─┴→ 办结

A step with `departments` is a joint review (并联审批): the flow forks into one lane per department and
joins again before the next step. The return path for supplements (补正) runs from the first review step
back to the applicant. A 即办件 (case_type "1") is decided on the spot: 受理 → its steps → 当场办结.

Pure string building with no dependency: every text is escaped, and the output is one standalone SVG
document (UTF-8, Chinese labels) that a browser shows as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from services.common.contracts.catalogue import ProcessStep
from services.common.contracts.payloads import TimeLimit
from services.disclosure.domain.catalogue import ItemDefinition, describe_limit

SVG_NS = "http://www.w3.org/2000/svg"

# The staff roles a step can be given to (api/schemas.py ProcessStepIn.role), as the guide names them.
ROLE_LABELS: dict[str, str] = {
    "approver": "审批人员",
    "department_head": "科室负责人",
    "window_clerk": "窗口人员",
}

FONT_SIZE = 14
LINE_HEIGHT = 19
PADDING = 10
BOX_WIDTH = 260  # a sequential step
LANE_WIDTH = 200  # one department of a joint step
LANE_GAP = 24
V_GAP = 34  # between two nodes, room for the arrow
MARGIN = 24
RETURN_GUTTER = 130  # left of the main column, where the 补正 path and its label run
FONT_FAMILY = "'Noto Sans CJK SC','Source Han Sans SC','Microsoft YaHei','PingFang SC',sans-serif"


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


def _char_width(ch: str) -> float:
    """Rough advance of one character: CJK and full-width forms are square, Latin about half."""
    return FONT_SIZE if ord(ch) > 0x2E7F else FONT_SIZE * 0.58


def wrap(text: str, width: float) -> list[str]:
    """Breaks a label into lines that fit `width` pixels (no external font metrics, so an estimate)."""
    lines: list[str] = []
    current, used = "", 0.0
    for ch in text:
        w = _char_width(ch)
        if current and used + w > width:
            lines.append(current)
            current, used = "", 0.0
        current += ch
        used += w
    if current or not lines:
        lines.append(current)
    return lines


@dataclass(frozen=True)
class _Box:
    """A placed node: its top-left corner and size, for connecting arrows to its edges."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


class _Canvas:
    """Collects SVG elements; every text passes through `escape` here and nowhere else."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def text_block(self, lines: list[tuple[str, str]], cx: float, top: float) -> None:
        """Centred lines; each (text, css class)."""
        y = top + PADDING + FONT_SIZE
        for text, cls in lines:
            self.parts.append(f'<text x="{cx:.1f}" y="{y:.1f}" class="{cls}">{escape(text)}</text>')
            y += LINE_HEIGHT

    def box(self, box: _Box, lines: list[tuple[str, str]], kind: str, node_id: str) -> None:
        rx = box.h / 2 if kind == "terminal" else 6
        self.parts.append(
            f'<g class="node {kind}" id={quoteattr(node_id)}>'
            f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="{rx:.1f}"/>')
        self.text_block(lines, box.cx, box.y)
        self.parts.append("</g>")

    def diamond(self, box: _Box, label: str, node_id: str) -> None:
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in
                          ((box.cx, box.y), (box.x + box.w, box.cy), (box.cx, box.bottom), (box.x, box.cy)))
        self.parts.append(f'<g class="node decision" id={quoteattr(node_id)}><polygon points="{points}"/>'
                          f'<text x="{box.cx:.1f}" y="{box.cy + FONT_SIZE / 2 - 2:.1f}" class="title">'
                          f"{escape(label)}</text></g>")

    def bar(self, x1: float, x2: float, y: float, node_id: str) -> None:
        """The fork or join of a parallel section: a thick bar, as in activity diagrams."""
        self.parts.append(f'<rect class="bar" id={quoteattr(node_id)} x="{x1:.1f}" y="{y - 3:.1f}" '
                          f'width="{x2 - x1:.1f}" height="6"/>')

    def arrow(self, points: list[tuple[float, float]], label: str = "", dashed: bool = False,
              label_at: tuple[float, float] | None = None, label_anchor: str = "start") -> None:
        d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))
        cls = "flow return" if dashed else "flow"
        self.parts.append(f'<path class="{cls}" d="{d}" marker-end="url(#arrow)"/>')
        if label:
            lx, ly = label_at or points[0]
            # A style, not the text-anchor attribute: the stylesheet's text rule would override an attribute.
            self.parts.append(f'<text x="{lx:.1f}" y="{ly:.1f}" class="edge" style="text-anchor:{label_anchor}">'
                              f"{escape(label)}</text>")


def _limit_text(limit: TimeLimit) -> str:
    # A limit of 0 is how the catalogue writes "done while the applicant waits" (即办).
    return "时限：即时办结" if limit.value == 0 else f"时限：{describe_limit(limit)}"


def _step_lines(step: ProcessStep, width: float) -> list[tuple[str, str]]:
    lines = [(t, "title") for t in wrap(step.name, width - 2 * PADDING)]
    lines += [(t, "meta") for t in wrap(f"办理人员：{role_label(step.role)}", width - 2 * PADDING)]
    if step.limit is not None:
        lines += [(t, "meta") for t in wrap(_limit_text(step.limit), width - 2 * PADDING)]
    return lines


def _height(lines: list[tuple[str, str]]) -> float:
    return 2 * PADDING + len(lines) * LINE_HEIGHT - (LINE_HEIGHT - FONT_SIZE) + 4


def _lane_lines(step: ProcessStep, department: str) -> list[tuple[str, str]]:
    inner = LANE_WIDTH - 2 * PADDING
    lines = [(t, "title") for t in wrap(department, inner)]
    lines += [(t, "meta") for t in wrap(step.name, inner)]
    if step.limit is not None:
        lines += [(t, "meta") for t in wrap(_limit_text(step.limit), inner)]
    return lines


_STYLE = (
    f"text{{font-family:{FONT_FAMILY};font-size:{FONT_SIZE}px;text-anchor:middle;fill:#1f2933}}"
    "text.meta{font-size:12px;fill:#52606d}text.edge{font-size:12px;fill:#1f2933}"
    ".node rect,.node polygon{fill:#fff;stroke:#3e4c59;stroke-width:1.5}"
    ".terminal rect{fill:#e3f8ff}.joint rect{fill:#fffbea}.decision polygon{fill:#f0f4f8}"
    ".bar{fill:#3e4c59}.flow{fill:none;stroke:#3e4c59;stroke-width:1.5}"
    ".return{stroke:#c63d2f;stroke-dasharray:6 4}text.heading{font-size:16px;font-weight:bold}"
)


def render_flowchart_svg(definition: ItemDefinition) -> str:
    """The item's flow chart as a standalone SVG document."""
    canvas = _Canvas()
    steps = list(definition.process)
    instant = definition.case_type == "1"  # 即办件: decided at the window, on the spot
    widest_lanes = max((len(s.departments) for s in steps), default=0)
    lanes_width = widest_lanes * LANE_WIDTH + max(widest_lanes - 1, 0) * LANE_GAP
    outcome_width = 0 if instant else 2 * (BOX_WIDTH - 40) + LANE_GAP
    column = max(BOX_WIDTH, lanes_width, outcome_width)
    left = MARGIN + (0 if instant else RETURN_GUTTER)  # a 即办件 has no return path to make room for
    cx = left + column / 2
    width = left + column + MARGIN

    heading = f"{definition.name} 办理流程图"
    y = MARGIN
    # The heading is set at 16px bold: wrapped as if the canvas were narrower by that ratio.
    for line in wrap(heading, (width - 2 * MARGIN) * FONT_SIZE / 17):
        y += LINE_HEIGHT + 2
        canvas.parts.append(f'<text x="{width / 2:.1f}" y="{y:.1f}" class="heading">{escape(line)}</text>')
    y += V_GAP / 2

    def place(lines: list[tuple[str, str]], w: float = BOX_WIDTH) -> _Box:
        nonlocal y
        box = _Box(cx - w / 2, y, w, _height(lines))
        y = box.bottom + V_GAP
        return box

    def connect(a: _Box, b: _Box, label: str = "") -> None:
        canvas.arrow([(a.cx, a.bottom), (b.cx, b.y)], label, label_at=(a.cx + 6, (a.bottom + b.y) / 2 + 4))

    apply_lines = [("申请", "title"), ("申请人提交申请材料", "meta")]
    apply_box = place(apply_lines, 200)
    canvas.box(apply_box, apply_lines, "terminal", "apply")
    accept_lines = [("受理", "title"), (f"办理人员：{role_label('window_clerk')}", "meta")]
    if instant:
        accept_lines.append(("即办件：当场办理", "meta"))
    accept_box = place(accept_lines)
    canvas.box(accept_box, accept_lines, "process", "accept")
    connect(apply_box, accept_box)

    previous = accept_box
    review_box: _Box | None = None  # where a request for supplements (补正) comes from
    for index, step in enumerate(steps, start=1):
        if step.departments:
            fork_y = y
            lanes = len(step.departments)
            total = lanes * LANE_WIDTH + (lanes - 1) * LANE_GAP
            x0 = cx - total / 2
            label = f"并联审批：{step.name}"
            canvas.arrow([(previous.cx, previous.bottom), (cx, fork_y - 3)])
            canvas.bar(x0, x0 + total, fork_y, f"step-{index}-fork")
            canvas.parts.append(f'<text x="{cx + 8:.1f}" y="{fork_y - 10:.1f}" class="edge" '
                                f'style="text-anchor:start">{escape(label)}</text>')
            lane_lines = [_lane_lines(step, d) for d in step.departments]
            lane_h = max(_height(lines) for lines in lane_lines)
            lane_top = fork_y + V_GAP
            join_y = lane_top + lane_h + V_GAP
            canvas.parts.append(f'<g class="parallel" id="step-{index}">')
            for n, lines in enumerate(lane_lines, start=1):
                lane = _Box(x0 + (n - 1) * (LANE_WIDTH + LANE_GAP), lane_top, LANE_WIDTH, lane_h)
                canvas.box(lane, lines, "joint", f"step-{index}-lane-{n}")
                canvas.arrow([(lane.cx, fork_y + 3), (lane.cx, lane.y)])
                canvas.arrow([(lane.cx, lane.bottom), (lane.cx, join_y - 3)])
            canvas.parts.append("</g>")
            canvas.bar(x0, x0 + total, join_y, f"step-{index}-join")
            previous = _Box(cx, join_y, 0, 3)  # the join bar's centre is where the next arrow starts
            y = join_y + V_GAP
            continue
        lines = _step_lines(step, BOX_WIDTH)
        box = place(lines)
        canvas.box(box, lines, "process", f"step-{index}")
        connect(previous, box)
        previous = box
        if review_box is None:
            review_box = box

    if instant:
        done_lines = [("当场办结", "title")]
        done = place(done_lines, 200)
        canvas.box(done, done_lines, "terminal", "done")
        connect(previous, done)
    else:
        decision = _Box(cx - 70, y, 140, 64)
        y = decision.bottom + V_GAP + 10
        canvas.diamond(decision, "决定", "decide")
        canvas.arrow([(previous.cx, previous.bottom), (decision.cx, decision.y)])
        branch_w = BOX_WIDTH - 40
        grant_lines = [("制证/送达", "title"), ("准予许可，制作并送达证照", "meta")]
        deny_lines = [("送达不予许可决定书", "title"), ("说明理由，告知复议、诉讼权利", "meta")]
        branch_h = max(_height(grant_lines), _height(deny_lines))
        grant = _Box(cx - LANE_GAP / 2 - branch_w, y, branch_w, branch_h)
        deny = _Box(cx + LANE_GAP / 2, y, branch_w, branch_h)
        canvas.box(grant, grant_lines, "process", "grant")
        canvas.box(deny, deny_lines, "process", "deny")
        canvas.arrow([(decision.x, decision.cy), (grant.cx, decision.cy), (grant.cx, grant.y)], "准予",
                     label_at=(decision.x - 8, decision.cy - 6), label_anchor="end")
        canvas.arrow([(decision.x + decision.w, decision.cy), (deny.cx, decision.cy), (deny.cx, deny.y)], "不予",
                     label_at=(decision.x + decision.w + 8, decision.cy - 6))
        y = grant.bottom + V_GAP
        done_lines = [("办结", "title")]
        done = _Box(cx - 100, y, 200, _height(done_lines))
        y = done.bottom + V_GAP
        canvas.box(done, done_lines, "terminal", "done")
        for branch in (grant, deny):
            canvas.arrow([(branch.cx, branch.bottom), (branch.cx, (branch.bottom + done.y) / 2),
                          (done.cx + (-40 if branch is grant else 40), (branch.bottom + done.y) / 2),
                          (done.cx + (-40 if branch is grant else 40), done.y)])
        # 补正: the reviewer finds the materials incomplete and returns them to the applicant, who
        # resubmits; drawn from the first review step (or from 受理 when the item lists no steps).
        origin = review_box or accept_box
        gutter_x = left - RETURN_GUTTER / 2
        canvas.arrow([(origin.x, origin.cy), (gutter_x, origin.cy), (gutter_x, apply_box.cy),
                      (apply_box.x, apply_box.cy)], "补正材料", dashed=True,
                     label_at=(gutter_x - 6, (origin.cy + apply_box.cy) / 2), label_anchor="end")

    height = y - V_GAP + MARGIN
    title = escape(heading)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="{SVG_NS}" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        'role="img" aria-labelledby="title" font-size="14">'
        f'<title id="title">{title}</title>'
        f"<style>{_STYLE}</style>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#3e4c59"/></marker></defs>'
        f'<rect width="100%" height="100%" fill="#fff"/>{"".join(canvas.parts)}</svg>\n'
    )

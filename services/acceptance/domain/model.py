"""Materials against the item's list (行政许可法 Art. 32); the outcomes themselves are in outcomes.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.common.contracts.catalogue import MaterialSpec


@dataclass(frozen=True)
class SubmittedMaterial:
    code: str
    originals: int
    copies: int
    files: tuple[str, ...] = field(default=())  # sha256 of uploaded scans (申请材料文件)


@dataclass(frozen=True)
class Shortfall:
    """One thing the applicant must still bring, with why; the notice lists all of them at once."""

    code: str
    name: str
    reason: str


def missing_materials(required: list[MaterialSpec], submitted: list[SubmittedMaterial]) -> list[Shortfall]:
    """Everything missing or short, in the item's list order — never just the first (一次性告知)."""
    given = {m.code: m for m in submitted}
    shortfalls: list[Shortfall] = []
    for spec in required:
        if not spec.required:
            continue  # conditional materials depend on the applicant's situation, judged by the clerk
        got = given.get(spec.code)
        if got is None:
            shortfalls.append(Shortfall(spec.code, spec.name, "未提交"))
            continue
        reasons = []
        if got.originals < spec.originals:
            reasons.append(f"原件需{spec.originals}份，已交{got.originals}份")
        if got.copies < spec.copies:
            reasons.append(f"复印件需{spec.copies}份，已交{got.copies}份")
        if reasons:
            shortfalls.append(Shortfall(spec.code, spec.name, "；".join(reasons)))
    return shortfalls


def unknown_materials(required: list[MaterialSpec], submitted: list[SubmittedMaterial]) -> list[str]:
    known = {m.code for m in required}
    return [m.code for m in submitted if m.code not in known]


def case_number(region_code: str, day: str, sequence: int) -> str:
    """办件编号: region + date (YYYYMMDD) + sequence, grouped to be read over the phone (320102-20261125-00042)."""
    return f"{region_code}-{day}-{sequence:05d}"

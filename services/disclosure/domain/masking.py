"""Masking of applicants before anything about them is stored or published (domain.md §5).

A natural person's name, id number and phone are masked at the door: disclosure never keeps the raw
values, so no query, backup or log of its database can reveal them. An organisation's name and credit
code are public by nature and stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.contracts.payloads import Applicant

NATURAL_PERSON = "1"  # GB/T 39046 申请人类型 1 自然人
UNKNOWN = "—"  # shown when a result is published for a case whose acceptance disclosure never saw
_STAR = "*"


def mask_name(name: str) -> str:
    """Keeps the first and last character: 张三 → 张*, 张小三 → 张*三, 欧阳小明 → 欧**明."""
    name = name.strip()
    if len(name) <= 1:
        return _STAR * len(name)
    if len(name) == 2:
        return name[0] + _STAR
    return name[0] + _STAR * (len(name) - 2) + name[-1]


def _keep_ends(value: str, head: int, tail: int) -> str:
    value = value.strip()
    if len(value) <= head + tail:
        # Too short to keep both ends without showing (nearly) all of it: hide it all.
        return _STAR * len(value)
    return value[:head] + _STAR * (len(value) - head - tail) + value[-tail:]


def mask_id_number(number: str) -> str:
    """公民身份号码: first 4 and last 4 kept (3201**********123X)."""
    return _keep_ends(number.upper(), 4, 4)


def mask_phone(phone: str) -> str:
    """Phone: first 3 and last 4 kept (138****5678)."""
    return _keep_ends(phone, 3, 4)


@dataclass(frozen=True)
class MaskedApplicant:
    """The only form in which disclosure holds an applicant."""

    applicant_type: str
    name: str
    id_number: str
    phone: str

    @classmethod
    def unknown(cls) -> MaskedApplicant:
        return cls(applicant_type="", name=UNKNOWN, id_number=UNKNOWN, phone="")


def mask_applicant(applicant: Applicant) -> MaskedApplicant:
    """Natural persons masked; organisations keep name and credit code (their contact phone is masked:
    it is usually a person's)."""
    phone = mask_phone(applicant.phone) if applicant.phone else ""
    if applicant.applicant_type == NATURAL_PERSON:
        return MaskedApplicant(NATURAL_PERSON, mask_name(applicant.name), mask_id_number(applicant.id_number), phone)
    return MaskedApplicant(applicant.applicant_type, applicant.name.strip(), applicant.id_number.strip().upper(),
                           phone)

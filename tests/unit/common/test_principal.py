from __future__ import annotations

import pytest

from services.common.principal import Principal, PrincipalKind, Role, region_prefix, sign_principal, verify_principal
from services.common.problems import Problem


@pytest.mark.parametrize("code, prefix", [
    ("320000000000", "32"), ("320100000000", "3201"), ("320102000000", "320102"),
    ("320102001000", "320102001"), ("320102001001", "320102001001"), ("", ""),
])
def test_region_prefix(code: str, prefix: str) -> None:
    assert region_prefix(code) == prefix


def test_county_sees_its_townships_not_its_neighbours() -> None:
    p = Principal(kind=PrincipalKind.staff, subject="s", role=Role.supervisor, region_code="320102000000")
    assert p.can_see_region("320102001001")
    assert not p.can_see_region("320104000000")


def test_signed_principal_round_trip_and_tamper() -> None:
    p = Principal(kind=PrincipalKind.staff, subject="s", role=Role.approver, region_code="320102000000")
    token = sign_principal(p, "k" * 40)
    assert verify_principal(token, "k" * 40) == p
    with pytest.raises(Problem) as exc:
        verify_principal(token, "x" * 40)
    assert exc.value.status == 401


def test_a_signed_principal_without_an_expiry_is_refused() -> None:
    import jwt

    p = Principal(kind=PrincipalKind.staff, subject="s", role=Role.approver, region_code="320102000000")
    claims = p.model_dump(mode="json") | {"iss": "zwfw-gateway", "aud": "zwfw-services", "iat": 1}
    forever = jwt.encode(claims, "k" * 40, algorithm="HS256")
    with pytest.raises(Problem) as exc:
        verify_principal(forever, "k" * 40)
    assert exc.value.status == 401

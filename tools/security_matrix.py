"""Prints the role × action matrix (services/common/contracts/permissions.py) as the markdown table of
docs/security.md: `python -m tools.security_matrix`. tests/unit/common/test_permissions.py fails when the
document's table differs from this output, so the document cannot drift from the code."""

from __future__ import annotations

from services.common.contracts.permissions import PERMISSIONS, Action
from services.common.principal import Role

START = "<!-- matrix:start -->"
END = "<!-- matrix:end -->"

# As the account list in README.md names them.
ROLE_ZH = {
    Role.window_clerk: "窗口受理人员",
    Role.approver: "审批人员",
    Role.department_head: "部门负责人",
    Role.supervisor: "电子监察人员",
    Role.catalogue_admin: "事项目录管理员",
    Role.disclosure_officer: "政务公开工作人员",
    Role.operations: "运维",
    Role.platform: "省级平台等机器客户端",
    Role.public: "公众（未登录）",
}


def render() -> str:
    """The table, one action a row, the roles in the order `Role` declares them."""
    lines = ["| Action | 中文 | roles |", "|---|---|---|"]
    for action in Action:
        roles = ", ".join(f"`{r.value}` ({ROLE_ZH[r]})" for r in Role if r in PERMISSIONS[action])
        lines.append(f"| `{action.value}` | {action.zh} | {roles} |")
    return "\n".join(lines) + "\n"


def embedded(document: str) -> str:
    """The table between the markers in `document` (what the test compares with `render()`)."""
    start = document.index(START) + len(START)
    return document[start:document.index(END, start)].strip("\n") + "\n"


if __name__ == "__main__":
    print(render(), end="")

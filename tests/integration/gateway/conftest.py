"""Every gateway built in these tests keeps its own database (the audit log) under the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def gateway_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path}/gateway.db"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    return url

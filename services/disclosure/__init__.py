"""Disclosure (公开): the item catalogue (实施清单) and the public results of cases (办件结果公示)."""

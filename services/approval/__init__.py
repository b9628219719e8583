"""Approval (审批): steps of review and the decision on an accepted case."""

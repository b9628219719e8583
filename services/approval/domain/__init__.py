"""Approval rules in plain Python: no I/O."""

"""Supervision rules in plain Python: clocks, levels and verdicts, no I/O and no system clock."""

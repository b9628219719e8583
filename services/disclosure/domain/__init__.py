"""Disclosure rules in plain Python: the catalogue's definitions and lifecycle, and the masking of public results."""

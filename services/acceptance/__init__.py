"""Acceptance (受理): the first desk a citizen meets."""

"""Contracts and plumbing shared by every service. No service's rules and no service's tables live here."""

"""The gateway's own data: staff accounts, OAuth2 clients, refresh tokens, signing keys and the audit log."""

"""The gateway's identity provider: staff logins, OAuth2 client credentials, EdDSA access tokens with a JWKS and
key rotation, rotating refresh tokens, demo identities. See routes.py for the endpoints, cli.py for the command."""

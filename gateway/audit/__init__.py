"""The audit log of every write through the gateway, kept tamper-evident as a hash chain (see chain.py)."""

from gateway.audit.chain import GENESIS, Verdict, entry_hash, verify
from gateway.audit.middleware import AuditMiddleware, audit_entry
from gateway.audit.routes import audit_router
from gateway.audit.store import AuditReader, AuditWriter

__all__ = ["GENESIS", "AuditMiddleware", "AuditReader", "AuditWriter", "Verdict", "audit_entry",
           "audit_router", "entry_hash", "verify"]

"""One module per audit finding; each defines one ``AuditRule`` subclass (registered on import)."""

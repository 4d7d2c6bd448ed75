"""Request and response bodies of the management API (camelCase on the wire)."""

"""The OCI Distribution face: HTTP handlers that call domain services, nothing more."""

"""Dockyard's side-by-side benchmark against the reference registry (see docs/performance.md)."""

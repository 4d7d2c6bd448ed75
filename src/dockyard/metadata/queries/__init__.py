"""Typed queries, one module per aggregate. Services call these inside a unit of work."""

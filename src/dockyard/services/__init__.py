"""Domain services: no HTTP, no SQL text. Faces call these; these call metadata and storage."""

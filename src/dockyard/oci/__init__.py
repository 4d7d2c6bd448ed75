"""Pure OCI vocabulary: digests, names, media types, manifest parsing. No I/O."""

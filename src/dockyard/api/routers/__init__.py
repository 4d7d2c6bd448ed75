"""One router per domain: auth, instances, namespaces, repositories, artifacts."""

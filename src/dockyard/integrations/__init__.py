"""Faces for other systems' plug-in protocols (the kubelet's credential provider).

Like the CLI, they reach Dockyard only over its HTTP API, never its services.
"""

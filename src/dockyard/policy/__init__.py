"""The RAM-style policy engine: pure, no I/O."""

from dockyard.policy.engine import Decision, Effect, PolicyDocument, PolicyError, evaluate

__all__ = ["Decision", "Effect", "PolicyDocument", "PolicyError", "evaluate"]

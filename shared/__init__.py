"""Code both sides of tandem share: wire schema, Redis bus, configuration, errors and logging.

Nothing in ``shared`` imports from ``tools``, ``thinker`` or ``responder``.
"""

"""The realtime LiveKit voice agent callers hear.

Talks to the thinker only through the wire schema in ``shared``.
"""

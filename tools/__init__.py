"""Tools the thinker (and, for fast side-effect-free ones, the responder) can call.

Depends only on ``shared``. The plugin API arrives with the tools issue.
"""

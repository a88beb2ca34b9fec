"""The out-of-band reasoning worker pool: takes tasks from the bus and answers them.

Talks to the responder only through the wire schema in ``shared``.
"""

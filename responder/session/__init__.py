"""Live session control: what watches over one call while it runs (its time budget, caller
silence, guardrails) and the session journal it reports to. Each part lives in its own module."""

__all__: list[str] = []

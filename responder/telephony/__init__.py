"""Phone calls through LiveKit SIP: what a dispatch says about the call (its profile, purpose and
direction), the phone participant, and when an outbound call was answered."""

__all__: list[str] = []

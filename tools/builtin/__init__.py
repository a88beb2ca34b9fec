"""The built-in toolset: the front desk of a restaurant (bookings, questions, time, the bill,
the weather). Registered through the ``tandem.tools`` entry points like any plugin."""

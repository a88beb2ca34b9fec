"""Harbor Bikes, a bicycle shop in Halifax (repairs, rentals, sales): the second shipped profile.

The proof that nothing in tandem is a restaurant: ``profile.toml`` (its persona and tools),
``knowledge/*.md`` (hours, prices, services, location, policies), a tool of its own written as a
plugin (:mod:`profiles.harbor_bikes.tools`: ``repair_status``), a small offline thinker brain
that routes ticket questions to it (:mod:`profiles.harbor_bikes.thinker_brain`) and the
simulated calls in ``scenarios/``.
"""

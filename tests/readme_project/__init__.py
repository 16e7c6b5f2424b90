"""The project the README's test examples run against (tests/test_readme.py).

It has the views the examples request: ``/checkout/`` (the ``payments``
client), ``/search/`` (the ``search`` client) and ``/motd/`` (the lifespan state).
"""

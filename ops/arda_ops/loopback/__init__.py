"""One loopback world for the tests, the rehearsal, the benchmark and the drift tests.

AWS is moto's own threaded server, Postmark is the emulator, DNS is two authoritative servers reading moto's
Route 53, and CloudFormation's response URL is an HTTPS receiver: all on 127.0.0.1, built one way
(:class:`~arda_ops.loopback.world.LoopbackWorld`), with one set of account IDs
(:mod:`arda_ops.loopback.accounts`). Building it in one place keeps the worlds that stand in for a deployed
platform from drifting apart.
"""

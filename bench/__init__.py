"""The benchmark of the call-signaling server: ``python -m bench --help``.

It starts real daphne processes (bench.settings: DEBUG off, a fresh database),
drives them from a separate load-generator process (bench.load) over real
loopback sockets, and reports complete calls per second, server CPU per call,
setup latency, idle memory per session and the cross-process cost, each also as
a ratio to a bare echo consumer measured in the same run (bench.asgi).
"""

"""``make bench``: what users pay in time and money, measured against targets and the naive design.

Each phase runs in its own process so that one cannot disturb another: cold imports in fresh
interpreters (:mod:`bench.cold_start`), code and dependency sizes (:mod:`bench.assets`, which
imports the CDK), the handlers in-process against moto in decorator mode (:mod:`bench.inprocess`),
and the local twin over loopback HTTP (:mod:`bench.twin_load`, driving :mod:`bench.twin_server`).
:mod:`bench.run` collects their figures, prices them (:mod:`bench.cost`), checks the targets and
writes ``bench-results.json``. ``docs/performance.md`` explains the method and the numbers.
"""

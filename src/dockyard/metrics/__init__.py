"""Prometheus metrics: per-process instruments summed over the workers, plus the
registry's database-held state read once per scrape.

``dockyard serve`` points every worker at one multiprocess directory
(``PROMETHEUS_MULTIPROC_DIR``), where each process keeps its own memory-mapped values;
a scrape, answered by whichever worker receives it, sums them. That variable must be set
before ``prometheus_client`` is first imported, which the serving parent guarantees by
setting it before any worker starts.
"""

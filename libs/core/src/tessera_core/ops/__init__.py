"""Running and watching a service: probes (``health``), Prometheus metrics
(``metrics``), structured logs (``logging``), the server (``serve``) and the
migration helper (``migrations``).

Nothing is imported here: importing ``tessera_core.ops.serve`` must not create the
Prometheus metrics before ``serve`` has made their multiprocess folder (a worker would
fail on the missing folder). Import from the modules themselves.
"""

__all__: list[str] = []

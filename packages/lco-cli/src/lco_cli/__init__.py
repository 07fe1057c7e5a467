"""lco_cli: the ``lco-reduce`` command, the imperative shell around the pure pipeline."""

"""The executor core, independent of any scheduler: submission, watching, settling,
collecting results, the ledger and the job objects users hold. It speaks to schedulers only
through :mod:`clusterlab.backends` and knows nothing of notebooks."""

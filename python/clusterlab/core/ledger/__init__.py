"""The per-user SQLite ledger of every job submitted from this machine (:mod:`.store`) and
the records the engine writes into it and rebuilds jobs from (:mod:`.records`)."""

"""The per-user SQLite ledger of every job submitted from this machine (:mod:`.store`), the
rows the engine writes into it (:mod:`.records`), the jobs rebuilt from them after a
kernel restart or in another process (:mod:`.reattach`) and the lab panel's "Clear
finished" marks (:mod:`.cleared`)."""

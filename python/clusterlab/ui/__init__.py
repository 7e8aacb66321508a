"""The faces of clusterlab: the %%cluster magic, the CLI, the lab panel's comm handler and
the ipywidgets. They read the public API, the ledger and job events, and never talk to a
scheduler or a transport directly."""

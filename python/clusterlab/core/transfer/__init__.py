"""Bytes to and from the cluster: pickled calls and results (:mod:`.payload`), large
arguments stored once (:mod:`.blobs`), the working dir, inputs and outputs of a run
(:mod:`.staging`) and local modules shipped by value (:mod:`.localcode`)."""

"""Learning how jobs end: the per-profile watcher and its polls (:mod:`.watcher`), the
shared poll per cluster (:mod:`.sharedpoll`, its tables in :mod:`.pollstore`), status
lines pushed by the agent (:mod:`.agentlink`, :mod:`.agenthandle`, :mod:`.agentstatus`),
pool mode's items (:mod:`.workerpool`), following output (:mod:`.follow`) and collecting
results (:mod:`.collect`)."""

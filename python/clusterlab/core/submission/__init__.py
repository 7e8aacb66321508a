"""Getting calls to the scheduler: serialize and stage (:mod:`.submit`), the per-profile
submission thread that submits calls made together in one round trip (:mod:`.batcher`),
and reruns of an array's failed items (:mod:`.rerun`)."""

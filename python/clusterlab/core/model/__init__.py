"""The objects users hold and the pure rules about them: :class:`~.job.Job`,
:class:`~.array.ArrayJob`, dependencies, state events, per-item logs, the settle rules,
the plan of a map, and the registry of objects alive in this process."""

"""The comm's topics, in one list: a new topic is its module (with an ``open_topic(conn)``
returning a :class:`.topic.Topic`) and one line here."""

from __future__ import annotations

from . import cluster, environments, hello, jobs, kernels, login, logs, output, profiles, results
from .topic import Opener

TOPICS: tuple[Opener, ...] = (
    hello.open_topic,
    profiles.open_topic,
    jobs.open_topic,
    logs.open_topic,
    output.open_topic,
    results.open_topic,
    environments.open_topic,
    login.open_topic,
    cluster.open_topic,
    kernels.open_topic,
)

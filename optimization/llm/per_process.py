"""Objects built once per process and configuration: SDK clients, the embedded model, thread pools.

A forked child (django-q's workers) starts with none of them: a connection pool, an OpenMP runtime or
a thread pool copied across fork() is broken in the child.
"""

import os
import threading

_instances = {}
_lock = threading.Lock()


def instance(key, build):
    """The object built by `build()` for `key` in this process; built on first use, by one thread."""
    try:
        return _instances[key]
    except KeyError:
        pass
    with _lock:
        if key not in _instances:
            _instances[key] = build()
        return _instances[key]


def _forget_after_fork():
    global _lock
    _instances.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)

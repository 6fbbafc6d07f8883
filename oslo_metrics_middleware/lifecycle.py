# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""One sender per socket for the whole process, tied to its life.

Every filter of a process that names the same socket shares one sender
(one queue, one flusher thread).  The hooks here make sure its samples
outlive the process's changes of state:

* at fork, the child gets fresh senders (the parent's queue is not its
  to send);
* at exit, and when code ends a process with ``os._exit`` and calls
  :func:`flush` first, what is held is delivered or counted as dropped;
* a ``multiprocessing`` child, which skips ``atexit``, delivers from its
  finalizers;
* under uWSGI with the application loaded in the master, a timer signal
  flushes every worker once a second, so the last samples before a quiet
  spell are not held until the next request.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref

from oslo_metrics_middleware import transport

LOG = logging.getLogger(__name__)

_senders: dict[str, transport.DatagramSender] = {}
_senders_lock = threading.Lock()
# Senders that multiprocessing's after-fork hooks know.
_known_to_multiprocessing: weakref.WeakSet[transport.DatagramSender] = (
    weakref.WeakSet()
)


def get_sender(
    socket_path: str,
    buffer_size: int,
    flush_interval: float,
    exit_grace_period: float = 0.0,
) -> transport.DatagramSender:
    """The process-wide sender for ``socket_path``; filters share it."""
    with _senders_lock:
        sender = _senders.get(socket_path)
        if sender is None:
            sender = transport.DatagramSender(
                socket_path, buffer_size, flush_interval, exit_grace_period
            )
            _senders[socket_path] = sender
            _install_uwsgi_timer()
        return sender


def flush_all() -> None:
    """Flush every sender of this process."""
    for sender in list(_senders.values()):
        sender.flush()


def flush(timeout: float | None = None) -> int:
    """Deliver every sample this process holds before it leaves.

    For code that ends a process with ``os._exit`` (which skips the
    at-exit delivery): each sender keeps trying for up to ``timeout``
    seconds (its ``exit_grace_period`` by default); what it still holds
    then is counted as dropped and logged.  Returns that number.
    """
    senders = [s for s in list(_senders.values()) if s.pid == os.getpid()]
    if not senders:
        return 0
    if timeout is None:
        timeout = max(sender.exit_grace_period for sender in senders)
    # One grace period for all of them, not one each.
    deadline = time.monotonic() + timeout
    return sum(
        sender.leave(max(0.0, deadline - time.monotonic())) for sender in senders
    )


# uWSGI signal numbers run from 0 to 255; the highest free one is taken.
_UWSGI_SIGNALS = range(255, 0, -1)
_UWSGI_TIMER_SECONDS = 1
_uwsgi_signal: int | None = None


def _install_uwsgi_timer() -> None:
    """Flush all workers from a uWSGI timer, when that is possible.

    Without ``enable-threads`` no Python thread runs in a uWSGI worker
    while it waits for a request, so the flusher thread and the inline
    flush both stall once traffic stops.  A timer signal raised by the
    master runs its handler in every worker's main loop instead.  The
    handler is registered in the master before the workers fork (the
    default, without ``lazy-apps``), so every worker inherits it.
    """
    global _uwsgi_signal
    if _uwsgi_signal is not None:
        return
    try:
        import uwsgi  # only importable inside a uWSGI process
    except ImportError:
        return
    try:
        if uwsgi.worker_id() != 0 or not uwsgi.masterpid():
            # lazy-apps (loaded in a worker) or no master: no timers.
            LOG.debug("No uWSGI flush timer: not loaded in the master")
            return
        for signum in _UWSGI_SIGNALS:
            if not uwsgi.signal_registered(signum):
                break
        else:
            LOG.warning("No free uWSGI signal for the metrics flush timer")
            return
        uwsgi.register_signal(signum, "workers", _on_uwsgi_signal)
        uwsgi.add_timer(signum, _UWSGI_TIMER_SECONDS)
    except Exception:  # an unexpected uWSGI: the inline flush remains
        LOG.warning("Metrics flush timer not installed", exc_info=True)
        return
    _uwsgi_signal = signum


def _on_uwsgi_signal(signum: int) -> None:
    flush_all()


def _reset_after_fork() -> None:
    for sender in _senders.values():
        sender.reset()


def _before_fork() -> None:
    """Have multiprocessing's children deliver, if multiprocessing is loaded.

    Only a process that imported multiprocessing forks its children, so
    the senders are handed to its after-fork hooks here, just before a
    fork, rather than when they are made: the filter does not load
    multiprocessing (a quarter of a MiB) into the many workers that never
    use it.
    """
    util = sys.modules.get("multiprocessing.util")
    if util is None:
        return
    for sender in list(_senders.values()):
        if sender not in _known_to_multiprocessing:
            util.register_after_fork(sender, _leave_with_child)
            _known_to_multiprocessing.add(sender)


def _leave_with_child(sender: transport.DatagramSender) -> None:
    """In a ``multiprocessing`` child: deliver before its ``os._exit``.

    Such a child runs multiprocessing's finalizers, never atexit.
    """
    import multiprocessing.util  # loaded: this runs in its child

    multiprocessing.util.Finalize(sender, sender.leave, exitpriority=0)


os.register_at_fork(before=_before_fork, after_in_child=_reset_after_fork)
atexit.register(flush)

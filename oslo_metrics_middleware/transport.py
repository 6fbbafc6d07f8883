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

"""Non-blocking, bounded delivery of request samples to the oslo.metrics daemon.

The request path only appends a sample to a queue.  A flusher encodes queued
samples into batch datagrams and sends them with a non-blocking ``sendto`` on
an unconnected socket, so a restarted daemon (a new socket at the same path)
is reached without reconnecting.  What cannot be sent yet stays queued up to
``buffer_size`` samples; beyond that samples are dropped and counted, and the
counts are sent as counters once delivery works again.

The flusher is a thread where threads run, and the request path itself
where they do not (uWSGI without ``enable-threads``): a request flushes
inline when no flush has happened for a few intervals.  A forked child
starts afresh with its own socket, queue and thread; lifecycle.py holds
the one sender per socket of a process and the hooks (fork, exit, uWSGI's
timer) that tie it to the life of the process.
"""

from __future__ import annotations

import collections
import errno
import importlib.util
import json
import logging
import os
import socket
import stat
import sys
import threading
import time

from oslo_metrics_middleware import protocol
from oslo_metrics_middleware import socket_trust
from oslo_metrics_middleware import spool

LOG = logging.getLogger(__name__)

DROPPED = "openstack_api_metrics_dropped_samples_total"
ROUTE_OVERFLOW = "openstack_api_metrics_route_overflow_total"

# Rows per datagram before size splitting.  Each delivery has a fixed cost
# in this process and in the collector; more rows spread it thinner, but
# a collector killed with SIGKILL loses the datagrams queued in the kernel
# (see doc/source/transport.rst).
ROWS_PER_DATAGRAM = 400
# The daemon is unreachable: nobody listens, or the socket file is gone.
_UNREACHABLE = frozenset(
    {errno.ECONNREFUSED, errno.ENOENT, errno.ENOTCONN, errno.ECONNRESET}
)
_WOULD_BLOCK = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS})
# Not an errno: the socket's owner is not trusted (see socket_trust.py).
_UNTRUSTED = -1
# A request flushes inline once the flusher has been silent this many
# intervals: the sign that no thread runs in this process.
_INLINE_AFTER_INTERVALS = 3
# Pause between delivery attempts while leaving: the collector drains its
# queue in the meantime.
_LEAVE_PAUSE = 0.005
# A unix socket address holds 108 bytes, the last one a NUL.
MAX_SOCKET_PATH = 107
# uWSGI forks its workers in C and by default runs no Python fork hook, so
# there each request compares the pid, a system call; elsewhere the at-fork
# hook at the end of this module resets the senders of a child.
# (uWSGI puts its module in sys.modules before loading any application.)
FORKS_UNSEEN = "uwsgi" in sys.modules or importlib.util.find_spec("uwsgi") is not None


class DatagramSender:
    """Sends samples of one process to one daemon socket."""

    def __init__(
        self,
        socket_path: str,
        buffer_size: int,
        flush_interval: float,
        exit_grace_period: float = 0.0,
    ) -> None:
        self.socket_path = socket_path
        self.buffer_size = buffer_size
        self.flush_interval = flush_interval
        self.exit_grace_period = exit_grace_period
        # Set when the socket was missing at load: one line once it works.
        self.announce_delivery = False
        self.trust = socket_trust.SocketTrust(socket_path)
        # What the host's collector reads (opts.py batch_format).
        self.batch_format = protocol.PACKED_FORMAT_VERSION
        self.reset()

    def reset(self) -> None:
        """Fresh state, for a new sender or the child of a fork."""
        self._pid = os.getpid()
        self._queue: collections.deque[protocol.Sample] = collections.deque()
        self._unsent: collections.deque[tuple[bytes, int]] = (
            collections.deque()
        )
        self._unsent_samples = 0
        self._counts: collections.Counter[tuple[str, str, str]] = (
            collections.Counter()
        )
        self._counts_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._wakeup = threading.Event()
        # A burst wakes the flusher early rather than filling the buffer.
        self._wake_at = max(1, min(ROWS_PER_DATAGRAM, self.buffer_size // 4))
        self._inline_deadline = self._next_inline_flush()
        self.delivered = 0

    def _next_inline_flush(self) -> int:
        """When a request flushes inline, on the time.monotonic_ns clock."""
        delay = self.flush_interval * _INLINE_AFTER_INTERVALS
        return time.monotonic_ns() + int(delay * 1e9)

    # -- request path -------------------------------------------------------

    def submit(self, sample: protocol.Sample, now: int) -> None:
        """Queue ``sample``; never blocks and never raises on delivery.

        ``now`` is the request's end on the time.monotonic_ns clock.
        """
        if FORKS_UNSEEN:
            # Before queueing: resetting in flush() alone would discard the
            # samples queued since a fork the at-fork hook did not see.
            self._check_fork()
        if self._thread is None:
            self._start_thread()
        queue = self._queue
        held = len(queue)
        if held + self._unsent_samples < self.buffer_size:
            queue.append(sample)
            if held + 1 == self._wake_at:
                self._wakeup.set()
        else:
            self.count(DROPPED, sample[0], "buffer_full")
        if now >= self._inline_deadline:
            self.flush()

    def count(self, counter: str, service: str, reason: str = "") -> None:
        """Add one to a transport counter, sent with the next delivery."""
        with self._counts_lock:
            self._counts[(counter, service, reason)] += 1

    # -- flushing ------------------------------------------------------------

    def flush(self) -> None:
        """Deliver what can be delivered now, without blocking."""
        self._check_fork()
        # Positional: a keyword argument costs as much as the rest of the
        # test.
        if not self._flush_lock.acquire(False):
            return
        try:
            self._deliver()
        finally:
            self._flush_lock.release()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            # Forked without the at-fork hook (uWSGI forks in C): the queue
            # and the thread belong to the parent.
            self.reset()

    def _deliver(self) -> bool:
        """One delivery round, under the flush lock; True when all went."""
        try:
            self._inline_deadline = self._next_inline_flush()
            self._encode_queue()
            # Counts first: a collector that stays behind must still hear
            # of the drops that its slowness causes.
            counted = self._send_counts()
            return self._send_unsent() and counted and self._send_counts()
        except Exception:  # never let metrics break the API
            LOG.exception("Metrics delivery failed")
            return False

    def leave(self, timeout: float | None = None) -> int:
        """Deliver everything held before the process ends.

        Keeps trying for up to ``timeout`` seconds (the exit grace period
        by default), then counts what is left as dropped, logs one line
        with its number and returns it.
        """
        self._check_fork()
        if timeout is None:
            timeout = self.exit_grace_period
        deadline = time.monotonic() + timeout
        # Blocking: the flusher thread may be in the middle of a round.
        if not self._flush_lock.acquire(timeout=max(timeout, 0.01)):
            return self._give_up(timeout)
        try:
            while not self._deliver() and time.monotonic() < deadline:
                time.sleep(_LEAVE_PAUSE)
            return self._give_up(timeout)
        finally:
            self._flush_lock.release()

    def _give_up(self, waited: float) -> int:
        """Spool what is still held, or count it as dropped; say so once.

        The collector reads the spool when it is back (see spool.py).  A
        spool without room for the samples takes their count instead, as
        dropped with reason "exit"; with no spool at all that count goes
        to the socket if the collector takes it, and to the log.
        """
        with self._counts_lock:
            pending = bool(self._counts)
        lost = self.held
        if not lost and not pending:
            return 0
        self._encode_queue()
        datagrams = [datagram for datagram, _ in self._unsent]
        held = _services(datagrams)
        self._unsent.clear()
        self._unsent_samples = 0
        with self._counts_lock:
            counts = [_increment(*item) for item in self._counts.items()]
            for service, amount in held.items():
                self._counts[(DROPPED, service, "exit")] += amount
            dropped = [_increment(*item) for item in self._counts.items()]
        try:
            whole = spool.put(self.trust, counts + datagrams, dropped)
        except spool.SpoolError as exc:
            self._send_counts()
            if lost:
                LOG.warning(
                    "%d metric samples not delivered to %s before exit "
                    "(collector down or behind; waited %.1f s; %s)",
                    lost, self.socket_path, waited, exc,
                )
            return lost
        with self._counts_lock:
            self._counts.clear()
        if lost and whole:
            LOG.info(
                "%d metric samples kept in %s for the collector (not "
                "reachable at %s for %.1f s)", lost,
                spool.directory_of(self.socket_path), self.socket_path, waited,
            )
        elif lost:
            LOG.warning(
                "%d metric samples not delivered to %s before exit "
                "(collector down; waited %.1f s); counted as dropped in %s",
                lost, self.socket_path, waited,
                spool.directory_of(self.socket_path),
            )
        return lost

    def _encode_queue(self) -> None:
        queue = self._queue
        while queue:
            rows = [
                queue.popleft()
                for _ in range(min(len(queue), ROWS_PER_DATAGRAM))
            ]
            batches = protocol.split_for_datagrams(rows, self.batch_format)
            for datagram, samples in batches:
                self._unsent.append((datagram, samples))
                self._unsent_samples += samples

    def _send_unsent(self) -> bool:
        """Send queued datagrams; True when all of them went."""
        while self._unsent:
            datagram, samples = self._unsent[0]
            error = self._send(datagram)
            if error in _WOULD_BLOCK:
                return False
            if error in _UNREACHABLE:
                if not self.announce_delivery:
                    # Once per outage; the next success says it is over.
                    self.announce_delivery = True
                    LOG.warning(
                        "Metrics collector at %s unreachable (%s); holding "
                        "up to %d samples", self.socket_path,
                        os.strerror(error), self.buffer_size,
                    )
                return False
            self._unsent.popleft()
            self._unsent_samples -= samples
            if error is None:
                self.delivered += samples
                if self.announce_delivery:
                    self.announce_delivery = False
                    LOG.info("Metrics delivery to %s works", self.socket_path)
            elif error == _UNTRUSTED:  # socket_trust has said why, once
                with self._counts_lock:
                    self._counts[(DROPPED, "", "untrusted_socket")] += samples
            else:
                LOG.error(
                    "Dropped %d metric samples: %s", samples, os.strerror(error)
                )
                with self._counts_lock:
                    self._counts[(DROPPED, "", "send_error")] += samples
        return True

    def _send_counts(self) -> bool:
        """Send the transport counters; True when all of them went."""
        if not self._counts:
            # Nearly always: no lock to take.  A count added right after
            # this look goes with the next round, as one added right after
            # the copy below does.
            return True
        with self._counts_lock:
            pending = list(self._counts.items())
        for key, amount in pending:
            if self._send(_increment(key, amount)):
                return False
            with self._counts_lock:
                self._counts[key] -= amount
                if self._counts[key] <= 0:
                    del self._counts[key]
        return True

    def _send(self, datagram: bytes) -> int | None:
        """Send one datagram; the errno on failure, None on success."""
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        if self.trust.refusal() is not None:
            return _UNTRUSTED
        try:
            self._socket.sendto(datagram, self.socket_path)
        except OSError as exc:
            return exc.errno if exc.errno is not None else errno.EIO
        return None

    # -- background thread ---------------------------------------------------

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._run, name="metrics-flusher", daemon=True
        )
        self._thread = thread
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            LOG.debug("Metrics flusher not started", exc_info=True)

    def _run(self) -> None:
        pid = os.getpid()
        wakeup = self._wakeup
        while self._pid == pid:
            wakeup.wait(self.flush_interval)
            wakeup.clear()
            self.flush()

    @property
    def pid(self) -> int:
        """The process whose samples this sender holds."""
        return self._pid

    @property
    def held(self) -> int:
        """Samples waiting for delivery."""
        return len(self._queue) + self._unsent_samples


def _increment(key: tuple[str, str, str], amount: int) -> bytes:
    """The datagram adding ``amount`` to the transport counter ``key``."""
    counter, service, reason = key
    labels = {"service": service}
    if counter == DROPPED:
        labels["reason"] = reason
    return protocol.encode_increment(counter, amount, labels)


def _services(datagrams: list[bytes]) -> collections.Counter[str]:
    """Requests per service in batch ``datagrams``."""
    found: collections.Counter[str] = collections.Counter()
    for datagram in datagrams:
        value = json.loads(datagram)["action"]["value"]
        found.update(row[0] for row in protocol.rows_of(value))
    return found


def check_socket_path(path: str) -> str | None:
    """Raise ValueError when ``path`` can never be a collector's socket.

    Returns a warning when it cannot be one yet (no directory, or a
    leftover file the collector replaces when it starts), None when it is
    a socket or can become one.
    """
    if not path:
        raise ValueError("the path is empty")
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise ValueError(
            f"the path is longer than the {MAX_SOCKET_PATH} bytes a unix "
            "socket address holds"
        )
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        directory = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(directory):
            return None
        return f"its directory {directory} does not exist (yet)"
    except NotADirectoryError:
        raise ValueError("a component of the path is not a directory") from None
    except OSError as exc:
        return f"it cannot be checked ({exc.strerror})"
    if stat.S_ISDIR(mode):
        raise ValueError("the path is a directory")
    if not stat.S_ISSOCK(mode):
        return "it is not a socket (yet)"
    return None

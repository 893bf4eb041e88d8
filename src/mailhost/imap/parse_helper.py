"""Helper processes that build ENVELOPE, BODYSTRUCTURE and BODY of message files, and
read the keys SORT and THREAD compare from their headers.

MIME parsing is the heaviest pure-Python work IMAP does: a client opening a big folder
asks for the structure of hundreds of messages at once, and one Python process parses on
one core whatever its threads.  So a batch is shared out: the worker thread serving it
hands the later parts, as file names, to idle helper processes and builds the first part
itself; while the reactor answers that part, another worker thread collects what the
helpers built (FETCH puts it in the structure cache, where the batch's loop finds it).
The first SORT or THREAD of a folder shares its header reading the same way, and waits
for the helpers' parts before it orders the messages.
The helpers read the files themselves, so only names go out and only the built items (a
few hundred octets a message) come back.

Nothing depends on a helper: one that is busy, still starting, gone or slow gets no share
or is given up, and any message it did not build is built in-process when its turn
comes.  The reactor never waits on a helper, only worker threads do.

Run as ``python -m mailhost.imap.parse_helper`` by :class:`ParseHelpers`; it reads
requests on its standard input and ends when that closes (so also when the host dies).
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from mailhost.imap.bodystructure import bodystructure
from mailhost.imap.envelope import envelope
from mailhost.imap.sort import CACHE_PREFIX as SORT_PREFIX
from mailhost.imap.sort import header_fields, sort_values
from mailhost.imap.thread import CACHE_NAME as THREAD_ITEM
from mailhost.imap.thread import FIELDS, keys_of, to_cached
from mailhost.mime.structure import parse, some_fields
from mailhost.store.crlf import open_message, read_header_fd, read_whole, to_crlf

#: ``(uid, path, CRLF size or -1)`` of each message file a helper is to read.
Files = list[tuple[int, str, int]]
#: The items built, by UID.
Built = dict[int, dict[bytes, bytes]]

_FRAME = struct.Struct("!I")
#: Fewest messages worth a trip to a helper (the trip costs about what ten parses do).
MIN_SHARE = 32
#: Octets of messages one helper is given at a time.
SHARE_BYTES = 16 << 20
#: Longest one share may take before its helper is given up (and its share built here).
SHARE_TIMEOUT = 30.0
#: Least time between two starts of one helper, so one that keeps failing costs little.
RESTART_INTERVAL = 60.0
#: Largest frame either side accepts.
_MAX_FRAME = 256 << 20


class FilesOfFolder(Protocol):
    def message_files(self, uids: Iterable[int]) -> Files: ...


def structure_item(name: bytes, part: Any, data: bytes) -> bytes:
    """ENVELOPE, BODYSTRUCTURE or BODY of a parsed message."""
    if name == b"ENVELOPE":
        return envelope(part, data)
    return bodystructure(part, data, name == b"BODYSTRUCTURE")


def build(files: Files, names: list[bytes]) -> Built:
    """The items ``names`` of each file; a file that cannot be read or built is left out
    (the host builds it itself and answers as its own read goes).  Blocking."""
    if all(name.startswith(SORT_PREFIX) or name == THREAD_ITEM for name in names):
        return build_header_keys(files, names)
    out: Built = {}
    for uid, path, vsize in files:
        try:
            fd = open_message(path)
        except OSError:
            continue  # renamed for a flag change or expunged: the host knows which
        try:
            data = read_whole(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        if len(data) != vsize:
            data = to_crlf(data)
        try:
            part = parse(data)
            out[uid] = {name: structure_item(name, part, data) for name in names}
        except Exception:
            continue
    return out


def build_header_keys(files: Files, names: list[bytes]) -> Built:
    """SORT values (``SORT <key>`` items) or THREAD keys (the ``THREAD`` item) of each
    file, as the structure cache keeps them, read from the header alone.  A message whose
    Date cannot be read gets no THREAD item: the host threads it by its internal date."""
    keys = [name[len(SORT_PREFIX) :] for name in names if name.startswith(SORT_PREFIX)]
    fields = list(dict.fromkeys([*header_fields(keys), *(FIELDS if THREAD_ITEM in names else ())]))
    out: Built = {}
    for uid, path, _vsize in files:
        try:
            fd = open_message(path)
        except OSError:
            continue
        try:
            header = read_header_fd(fd)
        except OSError:
            continue
        finally:
            os.close(fd)
        try:
            first = some_fields(header, fields)
            items = sort_values(first, keys) if keys else {}
            if THREAD_ITEM in names:
                thread_keys, dated = keys_of(0, uid, first)
                if not dated:
                    continue
                items[THREAD_ITEM] = to_cached(thread_keys)
            out[uid] = items
        except Exception:
            continue
    return out


# --- the helper process -----------------------------------------------------------------


def _read_exact(fd: int, n: int) -> bytes | None:
    """``n`` octets from ``fd``; None at end of file."""
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


class _PlainUnpickler(pickle.Unpickler):
    """Data only: lists, tuples, dicts, bytes, str, ints.  No class is ever loaded."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected {module}.{name}")


def _loads(payload: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(payload)).load()


def main() -> None:
    """Serve requests on standard input until it closes: ``(names, files)`` in, the
    :data:`Built` items out, each one length-prefixed frame."""
    # the host's terminal's Ctrl-C is for the host: this process ends when its input does
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _serve(sys.stdin.fileno(), sys.stdout.fileno())
    except BrokenPipeError:
        pass  # the host has gone (or gave this helper up)


def _serve(inp: int, out: int) -> None:
    _write_frame(out, b"")  # ready
    while True:
        head = _read_exact(inp, _FRAME.size)
        if head is None:
            return
        (size,) = _FRAME.unpack(head)
        if size > _MAX_FRAME:
            return
        payload = _read_exact(inp, size)
        if payload is None:
            return
        names, files = _loads(payload)
        _write_frame(out, pickle.dumps(build(files, names), protocol=pickle.HIGHEST_PROTOCOL))


# --- the host's side --------------------------------------------------------------------


class HelperFailed(Exception):
    """A helper did not answer properly; it is stopped and restarted later."""


class _Helper:
    """One helper process.  Used by one worker thread at a time (:attr:`lock`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._started = -RESTART_INTERVAL

    def start(self) -> None:
        self._started = time.monotonic()
        env = dict(os.environ)
        # the helper imports this package from where the host found it
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "mailhost.imap.parse_helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self._ready = False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        self._ready = False
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def usable(self) -> bool:
        """Running and ready now (started again if it failed long enough ago).  Called with
        :attr:`lock` held; never waits."""
        if self._proc is None:
            if time.monotonic() - self._started < RESTART_INTERVAL:
                return False
            try:
                self.start()
            except OSError:
                return False
        if self._ready:
            return True
        try:
            if self._take_frame(0.0) is None:
                return False  # still importing
        except HelperFailed as e:
            _log_failure(e)
            self.stop()
            return False
        self._ready = True
        return True

    def send(self, names: list[bytes], files: Files) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        payload = pickle.dumps((names, files), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            _write_frame(self._proc.stdin.fileno(), payload)
        except OSError as e:
            self.stop()
            raise HelperFailed(str(e)) from e

    def receive(self, timeout: float) -> Built:
        try:
            payload = self._take_frame(timeout)
            if payload is None:
                raise HelperFailed(f"no answer in {timeout:.0f} s")
            built = _loads(payload)
            if not isinstance(built, dict):
                raise HelperFailed("answer is not a mapping")
            return built
        except Exception:
            self.stop()
            raise

    def _take_frame(self, timeout: float) -> bytes | None:
        """The next frame, or None if none began within ``timeout`` seconds."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise HelperFailed("not running")
        fd = proc.stdout.fileno()
        if not select.select([fd], [], [], timeout)[0]:
            return None
        head = _read_exact(fd, _FRAME.size)
        if head is None:
            raise HelperFailed(f"exited with status {proc.poll()}")
        (size,) = _FRAME.unpack(head)
        if size > _MAX_FRAME:
            raise HelperFailed("frame too large")
        payload = _read_exact(fd, size)
        if payload is None:
            raise HelperFailed("answer cut short")
        return payload


class Share:
    """The messages handed to helpers for one batch; :meth:`collect` gathers them."""

    def __init__(self, uids: list[int], helpers: list[_Helper], owner: ParseHelpers) -> None:
        #: Every UID handed out (some may come back unbuilt).
        self.uids = uids
        self._helpers = helpers
        self._owner = owner

    def collect(self) -> Built:
        """What the helpers built (possibly nothing); frees them.  Never raises."""
        built: Built = {}
        for helper in self._helpers:
            try:
                built.update(helper.receive(SHARE_TIMEOUT))
            except Exception as e:
                _log_failure(e)
            finally:
                helper.lock.release()
        self._helpers = []
        self._owner.count_built(len(built))
        return built


def _log_failure(e: BaseException) -> None:
    # (imported here: the helper process itself never logs, and starts faster without it)
    from twisted.logger import Logger

    Logger(namespace="mailhost").warn("parse helper failed: {error}", error=e)


def helpers_wanted(configured: int) -> int:
    """Helpers worth starting: ``configured``, but no more than the cores this process
    may run on, less the one it uses itself (a host pinned to one core gets none: a
    helper would only take turns with it)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # (not on every platform)
        cores = os.cpu_count() or 1
    return max(0, min(configured, cores - 1))


class ParseHelpers:
    """The host's helper processes (``[imap] parse_processes``)."""

    def __init__(self, count: int) -> None:
        self._helpers = [_Helper() for _ in range(count)]
        self._counter_lock = threading.Lock()
        #: Messages the helpers have built since the host started.
        self.messages_built = 0

    def count_built(self, n: int) -> None:
        with self._counter_lock:
            self.messages_built += n

    def start(self) -> None:
        for helper in self._helpers:
            try:
                helper.start()
            except OSError as e:
                _log_failure(e)

    def stop(self) -> None:
        for helper in self._helpers:
            # a share still being built ends in a failure its thread copes with
            held = helper.lock.acquire(timeout=5)
            try:
                helper.stop()
            finally:
                if held:
                    helper.lock.release()

    def ready(self) -> int:
        """How many helpers could take a share now (idle, started and ready)."""
        count = 0
        for helper in self._helpers:
            if helper.lock.acquire(blocking=False):
                try:
                    count += helper.usable()
                finally:
                    helper.lock.release()
        return count

    @property
    def pids(self) -> list[int]:
        return [pid for h in self._helpers if (pid := h.pid) is not None]

    def share(
        self, folder: FilesOfFolder, uids: list[int], names: list[bytes]
    ) -> tuple[list[int], Share | None]:
        """Hand parts of ``uids`` to the idle helpers.  Never waits for a helper.

        Returns the part for the caller to build itself and the :class:`Share` to collect
        (None, and all of ``uids``, if nothing was handed out).  The parts are equal and the
        caller's is the first, so that it can be answered while the helpers still build
        theirs; what lies after the caller's part and is in no share (a helper's part is
        cut at ``SHARE_BYTES``) is left for a later call.
        """
        if len(uids) < 2 * MIN_SHARE:
            return uids, None
        idle: list[_Helper] = []
        for helper in self._helpers:
            if len(uids) < (len(idle) + 2) * MIN_SHARE:
                break
            if not helper.lock.acquire(blocking=False):
                continue
            if helper.usable():
                idle.append(helper)
            else:
                helper.lock.release()
        if not idle:
            return uids, None
        step = -(-len(uids) // (len(idle) + 1))
        given: list[_Helper] = []
        handed: list[int] = []
        for k, helper in enumerate(idle, 1):
            files: Files = []
            try:
                files = _bounded(folder.message_files(uids[k * step : (k + 1) * step]))
                if files:  # (none where the store keeps no files)
                    helper.send(names, files)
            except Exception as e:
                _log_failure(e)
                files = []
            if not files:
                helper.lock.release()
                continue
            given.append(helper)
            handed.extend(uid for uid, _path, _size in files)
        if not given:
            return uids, None
        return uids[:step], Share(handed, given, self)


def _bounded(files: Files) -> Files:
    """The first of ``files`` up to about :data:`SHARE_BYTES` (at least one)."""
    total = 0
    for n, (_uid, _path, size) in enumerate(files):
        total += size if size >= 0 else 64 * 1024
        if total > SHARE_BYTES and n:
            return files[:n]
    return files


if __name__ == "__main__":
    main()

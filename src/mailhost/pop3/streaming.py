"""Streaming a big message to the client with a push producer (RETR and TOP).

Small messages are read in one blocking call and written at once; this is for the rest:
the message is read in chunks off the reactor thread, so memory stays at about one chunk
whatever its size, and reading pauses while the transport's buffer is full.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mailhost.blocking import Blocking
from mailhost.pop3 import responses as r
from mailhost.pop3.stuffing import BodyWriter

log = Logger()


class StreamBroken(Exception):
    """Reading a message failed after its ``+OK`` went out: only closing is honest."""


@implementer(IPushProducer)
class MessageProducer:
    """Streams one big message: read a chunk off-thread, transform, write, repeat.

    Pauses when the transport's buffer is full, so memory stays at about one chunk.
    ``deferred`` fires when the terminator is written, or fails with StreamBroken.
    """

    def __init__(
        self,
        transport: Any,
        blocking: Blocking,
        source: BinaryIO,
        writer: BodyWriter,
        chunk_size: int,
        on_progress: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._blocking = blocking
        self._on_progress = on_progress
        self._source = source
        self._writer = writer
        self._chunk_size = chunk_size
        self._paused = False
        self._reading = False
        self._looping = False
        self._finished = False
        self.deferred: Deferred[None] = Deferred()

    def start(self) -> None:
        self._transport.registerProducer(self, True)
        self._read_next()

    def _read_next(self) -> None:
        # A loop, not recursion: with a synchronous Blocking every read completes inside
        # run(), and a 5 MB message would otherwise nest thousands of frames deep.
        if self._looping:
            return
        self._looping = True
        try:
            while not (self._paused or self._reading or self._finished):
                self._reading = True
                d = self._blocking.run(self._source.read, self._chunk_size)
                d.addCallbacks(self._got, self._failed)
        finally:
            self._looping = False

    def _got(self, chunk: bytes) -> None:
        self._reading = False
        if self._finished:
            return
        out = self._writer.feed(chunk) if chunk else b""
        if not chunk or self._writer.done:
            self._finish(out + self._writer.finish())
            return
        self._transport.write(out)
        self._on_progress()
        self._read_next()

    def _failed(self, failure: Failure) -> None:
        self._reading = False
        if not isinstance(failure.value, r.MAPPED_ERRORS):
            log.failure("POP3 message stream failed unexpectedly", failure)
        if self._finished:
            return
        self._end()
        self.deferred.errback(StreamBroken(failure.getErrorMessage()))

    def _finish(self, tail: bytes) -> None:
        self._transport.write(tail)
        self._end()
        self.deferred.callback(None)

    def _end(self) -> None:
        self._finished = True
        self._transport.unregisterProducer()
        self._blocking.run(self._source.close)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._read_next()

    def stopProducing(self) -> None:
        if not self._finished:
            self._finished = True
            self._blocking.run(self._source.close)
            self.deferred.errback(StreamBroken("connection lost"))

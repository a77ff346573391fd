"""Where an HTTP/1.1 request ends, found incrementally as its bytes arrive.

The webhook's worker reads each request into memory without a thread (see
:mod:`webhook.intake`) and hands it to one only once it is whole. :class:`RequestFrame`
decides that from the bytes seen so far: the head up to its blank line, then a body framed by
``Content-Length`` or ``Transfer-Encoding: chunked``. It does not judge requests: anything
it cannot frame simply (a bad or ambiguous header, a body over the cap, a head over gunicorn's
limits) is handed over as it stands and marked to close, and gunicorn or the app answers it
(400, 413, 414, 431) from the bytes already buffered.
"""

from __future__ import annotations

import enum

CRLF = b"\r\n"
HEAD_END = b"\r\n\r\n"
# A chunk-size line (size and extensions) and a trailer section are never longer in practice.
MAX_CHUNK_LINE = 4096
MAX_TRAILERS = 8192
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Framing(enum.Enum):
    """What the bytes so far say about the request."""

    INCOMPLETE = "incomplete"  # more bytes are needed
    COMPLETE = "complete"  # a whole request is buffered
    HAND_OVER = "hand over"  # not framed here: the server answers it, then closes


class RequestFrame:
    """The bytes of one request (and whatever follows it) and where it ends.

    ``max_head``: bytes without a blank line after which the head cannot be within the
    server's limits; ``max_body``: the body cap (a larger body is handed over for the 413).
    """

    def __init__(self, max_head: int, max_body: int) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._reset()

    def _reset(self) -> None:
        self.data = bytearray()
        self.status = Framing.INCOMPLETE
        # Whether the client waits for "100 Continue" before it sends the body.
        self.expects_continue = False
        self._head_end = -1  # index just past the head's blank line, once found
        self._body_length: int | None = None  # Content-Length framing
        self._chunked = False
        self._next_chunk = 0  # index of the next chunk-size line (chunked framing)
        self._chunk_bytes = 0  # body bytes in the chunks before it

    @property
    def head_complete(self) -> bool:
        return self._head_end >= 0

    def feed(self, data: bytes) -> Framing:
        """Add bytes read from the connection; the framing so far."""
        self.data += data
        if self.status is Framing.INCOMPLETE:
            self.status = self._scan(len(self.data) - len(data))
        return self.status

    def take(self) -> bytes:
        """The bytes buffered so far, leaving the frame empty for the next request."""
        data = bytes(self.data)
        self._reset()
        return data

    def _scan(self, old_length: int) -> Framing:
        if self._head_end < 0:
            end = self.data.find(HEAD_END, max(0, old_length - 3))
            if end < 0:
                return Framing.HAND_OVER if len(self.data) > self.max_head else Framing.INCOMPLETE
            self._head_end = end + len(HEAD_END)
            framed = self._read_head()
            if framed is not Framing.INCOMPLETE:
                return framed
        if self._body_length is not None:
            if len(self.data) - self._head_end >= self._body_length:
                return Framing.COMPLETE
            return Framing.INCOMPLETE
        return self._scan_chunks()

    def _read_head(self) -> Framing:
        """Framing from the head's headers; INCOMPLETE when a body is to be read."""
        lines = bytes(self.data[: self._head_end - len(HEAD_END)]).split(CRLF)
        request_line = lines[0].split(b" ")
        if len(request_line) != 3 or not request_line[2].startswith(b"HTTP/1."):
            return Framing.HAND_OVER
        lengths: list[bytes] = []
        encodings: list[bytes] = []
        expect_lines: list[int] = []
        for index, line in enumerate(lines[1:], start=1):
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
                return Framing.HAND_OVER  # malformed or folded: the server answers 400
            key, value = name.lower(), value.strip(b" \t")
            if key == b"content-length":
                lengths.append(value)
            elif key == b"transfer-encoding":
                encodings.append(value)
            elif key == b"expect" and value.lower() == b"100-continue":
                expect_lines.append(index)
        if expect_lines:
            # The client's expectation is met here (or refused, by answering without it):
            # gunicorn must not send a second "100 Continue", nor one before a 413.
            self.expects_continue = request_line[2] == b"HTTP/1.1"
            kept = [line for i, line in enumerate(lines) if i not in expect_lines]
            head = CRLF.join(kept) + HEAD_END
            self.data[: self._head_end] = head
            self._head_end = len(head)
        if encodings:
            if lengths or len(encodings) != 1 or encodings[0].lower() != b"chunked":
                return self._refuse()  # ambiguous or unsupported framing: 400
            self._chunked = True
            self._next_chunk = self._head_end
            return Framing.INCOMPLETE
        if not lengths:
            self._body_length = 0
            return Framing.COMPLETE
        if len(lengths) != 1 or not lengths[0].isdigit():
            return self._refuse()
        self._body_length = int(lengths[0])
        if self._body_length > self.max_body:
            return self._refuse()  # 413 from the declared length, the body never read
        return Framing.INCOMPLETE

    def _refuse(self) -> Framing:
        self.expects_continue = False  # answered without the body: no "100 Continue"
        return Framing.HAND_OVER

    def _scan_chunks(self) -> Framing:
        """Chunked framing: walk the chunks received so far."""
        while True:
            start = self._next_chunk
            line_end = self.data.find(CRLF, start, start + MAX_CHUNK_LINE + 2)
            if line_end < 0:
                too_long = len(self.data) - start > MAX_CHUNK_LINE
                return Framing.HAND_OVER if too_long else Framing.INCOMPLETE
            size_text = bytes(self.data[start:line_end]).split(b";", 1)[0].strip(b" \t")
            if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                return Framing.HAND_OVER  # the server answers 400
            size = int(size_text, 16)
            data_start = line_end + len(CRLF)
            if size == 0:
                return self._scan_trailers(data_start)
            received = min(size, len(self.data) - data_start)
            if self._chunk_bytes + received > self.max_body:
                return Framing.HAND_OVER  # over the cap: the app reads past it and answers 413
            if len(self.data) < data_start + size + len(CRLF):
                return Framing.INCOMPLETE
            if self.data[data_start + size : data_start + size + len(CRLF)] != CRLF:
                return Framing.HAND_OVER
            self._chunk_bytes += size
            self._next_chunk = data_start + size + len(CRLF)

    def _scan_trailers(self, start: int) -> Framing:
        if len(self.data) < start + len(CRLF):
            return Framing.INCOMPLETE
        if self.data[start : start + len(CRLF)] == CRLF:
            return Framing.COMPLETE
        if self.data.find(HEAD_END, start) >= 0:
            return Framing.COMPLETE
        return Framing.HAND_OVER if len(self.data) - start > MAX_TRAILERS else Framing.INCOMPLETE

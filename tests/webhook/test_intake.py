"""Request framing as bytes trickle in, and the intake's limits (no sockets)."""

from __future__ import annotations

from webhook.framing import CONTINUE, Framing, RequestFrame
from webhook.intake import Intake

HEAD = b"POST /mutate HTTP/1.1\r\nHost: x\r\n"


def frame(max_body: int = 1000) -> RequestFrame:
    return RequestFrame(max_head=4096, max_body=max_body)


def fed(data: bytes, step: int = 1, max_body: int = 1000) -> tuple[RequestFrame, list[Framing]]:
    """A frame fed ``data`` ``step`` bytes at a time, and its status after each piece."""
    f = frame(max_body)
    return f, [f.feed(data[i : i + step]) for i in range(0, len(data), step)]


def test_content_length_is_complete_exactly_at_its_last_byte() -> None:
    request = HEAD + b"Content-Length: 5\r\n\r\nhello"
    pipelined = b"GET / HTTP/1.1\r\n"
    f, states = fed(request + pipelined)
    assert states[: len(request) - 1] == [Framing.INCOMPLETE] * (len(request) - 1)
    assert states[len(request) - 1 :] == [Framing.COMPLETE] * (len(pipelined) + 1)
    assert f.take().startswith(request) and not f.data and f.status is Framing.INCOMPLETE


def test_no_body_without_framing_headers() -> None:
    _, states = fed(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", step=7)
    assert states[-1] is Framing.COMPLETE


def test_chunked_body_with_extensions_and_trailers() -> None:
    body = b"5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-Trailer: y\r\n\r\n"
    _, states = fed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + body)
    assert states[-1] is Framing.COMPLETE and states[-2] is Framing.INCOMPLETE
    _, states = fed(HEAD + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", step=3)
    assert states[-1] is Framing.COMPLETE


def test_chunked_body_over_the_cap_is_handed_over_once_past_it() -> None:
    head = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
    f = frame(max_body=10)
    assert f.feed(head + b"8\r\n12345678\r\n8\r\n12") is Framing.INCOMPLETE
    assert f.feed(b"3") is Framing.HAND_OVER  # 11 body bytes received: the app answers 413


def test_what_the_server_must_answer_is_handed_over_as_it_stands() -> None:
    cases = [
        HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",  # smuggling: 400
        HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
        HEAD + b"Content-Length: -1\r\n\r\n",
        HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
        HEAD + b"Content-Length: 1001\r\n\r\n",  # over the cap: 413 from the header alone
        HEAD + b" folded\r\n\r\n",
        HEAD + b"Bad Name : x\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /" + b"a" * 5000,  # no blank line within the head limit: 414/431
    ]
    for request in cases:
        assert frame().feed(request) is Framing.HAND_OVER, request


def test_expect_100_continue_is_taken_out_of_the_head() -> None:
    f = frame()
    head = HEAD + b"Expect: 100-Continue\r\nContent-Length: 2\r\n\r\n"
    assert f.feed(head) is Framing.INCOMPLETE and f.expects_continue
    assert b"expect" not in bytes(f.data).lower()
    assert f.feed(b"{}") is Framing.COMPLETE
    refused = frame()
    assert refused.feed(HEAD + b"Expect: 100-continue\r\nContent-Length: 9999\r\n\r\n") is (
        Framing.HAND_OVER
    )
    assert not refused.expects_continue and b"Expect" not in bytes(refused.data)
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"


class Conn:
    """What the intake reads of a connection."""

    def __init__(self, client: str, served: int = 0, size: int = 0) -> None:
        self.client_key = client
        self.served = served
        self.frame = frame()
        self.frame.data += b"x" * size
        self.counted = 0
        self.deadline = 0.0

    def first_request(self) -> bool:
        return self.served == 0


def test_a_client_over_its_limit_displaces_its_own_oldest() -> None:
    intake: Intake[Conn] = Intake(max_pending=10, max_per_client=3, max_bytes=1000)
    other = Conn("10.0.0.2")
    assert intake.admit(other, 5.0) == []
    flood = [Conn("10.0.0.9") for _ in range(5)]
    dropped = [intake.admit(conn, 5.0) for conn in flood]
    assert dropped == [[], [], [], [flood[0]], [flood[1]]]
    assert other in intake and len(intake) == 4
    kept_alive = [Conn("10.0.0.9", served=1) for _ in range(3)]  # not counted per client
    assert all(intake.admit(conn, 5.0) == [] for conn in kept_alive)


def test_the_worker_limit_and_the_byte_budget_drop_the_oldest() -> None:
    intake: Intake[Conn] = Intake(max_pending=3, max_per_client=10, max_bytes=100)
    conns = [Conn(f"10.0.0.{i}", size=40) for i in range(4)]
    assert intake.admit(conns[0], 1.0) == []
    assert intake.admit(conns[1], 2.0) == []
    assert intake.admit(conns[2], 3.0) == [conns[0]]  # 120 > 100 bytes
    assert intake.buffered == 80
    assert intake.admit(conns[3], 4.0) == [conns[1]]
    assert intake.expired(3.5) == [conns[2]]
    assert list(intake.expired(10.0)) == [conns[3]] and intake.buffered == 0

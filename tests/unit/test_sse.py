from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from mcp_oauth2_proxy.transport.sse import ServerSentEvent, SSEDecoder

STREAM = (
    b"\xef\xbb\xbf: comment\r\n"
    b"retry: 250\r\n"
    b"id: 1\r\n"
    b'data: {"a":1}\r\n\r\n'
    b"event: ping\n"
    b"data: x\n\n"
    b"id: 2\r"
    b"data:line one\r"
    b"data: line two\r\r"
    b"id: 3\n\n"
    b"data: unfinished"
)
EXPECTED = [
    ServerSentEvent("message", '{"a":1}', "1"),
    ServerSentEvent("ping", "x", "1"),
    ServerSentEvent("message", "line one\nline two", "2"),
]


def _decode(chunks: list[bytes]) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events, decoder


def test_events_ids_and_retry_are_decoded_per_the_sse_rules() -> None:
    events, decoder = _decode([STREAM])
    assert events == EXPECTED
    assert decoder.last_event_id == "3"
    assert decoder.retry_ms == 250


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_chunk_boundaries_never_change_the_events(cuts: list[int]) -> None:
    points = sorted({0, len(STREAM), *cuts})
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    events, decoder = _decode(chunks)
    assert events == EXPECTED
    assert decoder.last_event_id == "3"


def test_a_large_event_split_into_many_chunks_arrives_whole() -> None:
    payload = b"y" * 3_000_000
    body = b"data: " + payload + b"\n\n"
    events, _ = _decode([body[i : i + 65536] for i in range(0, len(body), 65536)])
    assert [len(e.data) for e in events] == [len(payload)]


def test_reset_stream_keeps_the_last_event_id_but_drops_partial_input() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 7\ndata: partial")
    decoder.reset_stream()
    assert decoder.feed(b"data: fresh\n\n") == [ServerSentEvent("message", "fresh", "7")]


def test_a_field_name_split_anywhere_across_chunks_still_names_the_field() -> None:
    payload = b"z" * 200_000
    cases = [
        (b"data: " + payload + b"\r\n\r\n", [payload]),
        (b"data:" + payload + b"\r\rdata\n\n", [payload, b""]),  # a bare "data" line: empty value
    ]
    for body, expected in cases:
        for cut in range(1, 8):
            chunks = [body[:cut], *(body[i : i + 65536] for i in range(cut, len(body), 65536))]
            events, _ = _decode(chunks)
            assert [e.raw for e in events] == expected


def test_a_long_line_of_another_field_split_across_chunks_keeps_its_name() -> None:
    long_id = "7" * 100_000
    body = f"id: {long_id}\nevent: {'e' * 70_000}\ndata: x\n\n".encode()
    for cut in range(1, 8):
        chunks = [body[:cut], *(body[i : i + 65536] for i in range(cut, len(body), 65536))]
        events, decoder = _decode(chunks)
        assert events == [ServerSentEvent("e" * 70_000, "x", long_id)]
        assert decoder.last_event_id == long_id


def test_a_chunk_of_many_cr_terminated_events_is_decoded_in_one_pass() -> None:
    # CR-only line ends and no LF anywhere: each line end is found without rescanning the
    # rest of the chunk (100,000 events in 900 KB; a rescan per line would read 45 GB).
    events, _ = _decode([b"data: x\r\r" * 100_000])
    assert len(events) == 100_000
    assert {e.raw for e in events} == {b"x"}

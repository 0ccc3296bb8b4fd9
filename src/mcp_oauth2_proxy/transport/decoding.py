"""Undo ``Content-Encoding`` incrementally, never producing more than a bounded piece at once.

httpx inflates a whole network chunk in one call, so 64 KiB of gzip can turn
into 64 MiB before any size check sees it (a compression bomb). Here every
call to the decompressor is capped with ``max_length``, so the proxy's
message-size limit applies to what the data expands to, piece by piece.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 1 << 16
SUPPORTED = "gzip, deflate"
"""The ``Accept-Encoding`` the proxy sends: exactly what it can undo."""


class UnsupportedEncodingError(ValueError):
    """A ``Content-Encoding`` the proxy did not ask for and cannot undo."""


class BodyDecoder:
    """Decode one response body of the given ``Content-Encoding`` (``""`` = identity)."""

    def __init__(self, content_encoding: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise UnsupportedEncodingError(f"unsupported Content-Encoding {content_encoding!r}")
        self._coding = codings[0] if codings else ""
        self._head = b""
        self._inflater: zlib._Decompress | None = None
        if self._coding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def decode(self, chunk: bytes) -> Iterator[bytes]:
        """Yield the decoded bytes of ``chunk`` in pieces of at most :data:`PIECE` bytes.

        Raises:
            ValueError: the data is not valid for its encoding.

        """
        if not self._coding:
            if chunk:
                yield chunk
            return
        if self._inflater is None:  # deflate: the first two bytes tell zlib from raw
            self._head += chunk
            if len(self._head) < 2:
                return
            chunk, self._head = self._head, b""
            self._inflater = zlib.decompressobj(
                zlib.MAX_WBITS if _zlib_header(chunk) else -zlib.MAX_WBITS
            )
        yield from self._inflate(self._inflater, chunk)

    def _inflate(self, inflater: zlib._Decompress, data: bytes) -> Iterator[bytes]:
        while data and not inflater.eof:
            try:
                piece = inflater.decompress(data, PIECE)
            except zlib.error as exc:
                raise ValueError(f"invalid {self._coding} data: {exc}") from exc
            if piece:
                yield piece
            data = inflater.unconsumed_tail

    def flush(self) -> Iterator[bytes]:
        """Yield what the decompressor still holds at the end of the body.

        Raises:
            ValueError: the body ended inside the compressed data.

        """
        if self._head:  # a body of one byte cannot be deflate data
            raise ValueError(f"invalid {self._coding} data: truncated")
        inflater = self._inflater
        if inflater is None:
            return
        while piece := inflater.decompress(inflater.unconsumed_tail, PIECE):
            yield piece


def _zlib_header(data: bytes) -> bool:
    """RFC 1950 §2.2: method 8 (deflate) and a check value making the header a multiple of 31."""
    return data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


__all__ = ["PIECE", "SUPPORTED", "BodyDecoder", "UnsupportedEncodingError"]

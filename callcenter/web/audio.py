"""Serve a stored audio file with HTTP range requests, holding no file open between chunks.

Players fetch audio in ranges and drop connections while seeking. A response that keeps
the file open until the server closes its iterator leaks the descriptor whenever a server
skips that close on a dropped connection (the development server does); reading each
chunk with its own short open cannot leak.

>>> audio_response(Path("recordings/2026/11/24/RE….wav"), "audio/x-wav", etag=sha256)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flask import Response, request

CHUNK_BYTES = 256 * 1024


def _chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start`` to ``end`` (exclusive) of the file, one short open per chunk."""
    position = start
    while position < end:
        with path.open("rb") as handle:
            handle.seek(position)
            chunk = handle.read(min(CHUNK_BYTES, end - position))
        if not chunk:
            return  # the file shrank under us: end early rather than loop
        position += len(chunk)
        yield chunk


def audio_response(path: Path, mimetype: str, etag: str | None = None) -> Response:
    """200 with the whole file, 206 with one requested range, or 416 outside the file.

    A range is honoured only if ``If-Range`` (when sent) matches the ETag; several ranges
    in one request get the whole file (a server may ignore Range).
    """
    size = path.stat().st_size
    response = Response(mimetype=mimetype)
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, no-store"
    if etag:
        response.set_etag(etag)
    start, end = 0, size
    wanted = request.range
    if_range = request.if_range
    conditional = bool(if_range.etag or if_range.date)
    honour = wanted is not None and (not conditional or bool(etag and if_range.etag == etag))
    if honour and wanted is not None and len(wanted.ranges) == 1:
        bounds = wanted.range_for_length(size)
        if bounds is None:
            response.status_code = 416
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        start, end = bounds
        response.status_code = 206
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response.response = _chunks(path, start, end)
    response.content_length = end - start
    return response

"""One way to answer with stored bytes: HTTP range requests (206, Accept-Ranges,
Content-Range), streamed from the store chunk by chunk, never read whole into memory."""

from __future__ import annotations

from fastapi.responses import StreamingResponse

from api.services.media import ByteRange, MediaObject, parse_range, stream_bytes
from storage.services import Services


def ranged(
    svc: Services, obj: MediaObject, range_header: str | None
) -> tuple[StreamingResponse, ByteRange | None]:
    """The object (or the one range asked for) as a streaming response, and that range."""
    wanted = parse_range(range_header, obj.size)
    start, end = (wanted.start, wanted.end) if wanted else (0, obj.size)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start)}
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range(obj.size)
    response = StreamingResponse(
        stream_bytes(svc, obj.key, start, end),
        status_code=206 if wanted else 200,
        media_type=obj.content_type,
        headers=headers,
    )
    return response, wanted

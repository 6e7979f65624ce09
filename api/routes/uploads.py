"""tus 1.0 resumable uploads (core, creation, termination, checksum) into acquisition."""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Header, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import CurrentUser, MetricsDep, UploadsDep, UserSvc
from api.metrics import Metrics
from api.schemas import UploadOut
from api.services import access
from api.services import uploads as upload_service
from api.services.uploads import (
    CHECKSUM_ALGORITHMS,
    TUS_EXTENSIONS,
    TUS_VERSION,
    OffsetConflict,
    UploadError,
    UploadInfo,
    Uploads,
    parse_checksum,
    parse_metadata,
)
from storage.services import Services

router = APIRouter(prefix="/api/uploads", tags=["uploads"])
TUS = {"Tus-Resumable": TUS_VERSION}


def _tus_version(value: str | None) -> None:
    if value != TUS_VERSION:
        raise HTTPException(412, f"Tus-Resumable {TUS_VERSION} is required", headers={
            "Tus-Version": TUS_VERSION})  # fmt: skip


def _out(info: UploadInfo) -> UploadOut:
    return UploadOut.model_validate(dataclasses.asdict(info))


def _acquire(uploads: Uploads, svc: Services, info: UploadInfo, metrics: Metrics) -> None:
    done = uploads.acquire(svc, info)
    metrics.uploads.labels(outcome=done.state).inc()


@router.options("/", status_code=204, response_class=Response)
def options(uploads: UploadsDep) -> Response:
    return Response(status_code=204, headers={
        **TUS,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(TUS_EXTENSIONS),
        "Tus-Max-Size": str(uploads.max_bytes),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
    })  # fmt: skip


@router.post("/", status_code=201, response_class=Response, responses={403: {}, 413: {}})
def create(
    request: Request,
    svc: UserSvc,
    user: CurrentUser,
    uploads: UploadsDep,
    upload_length: Annotated[int, Header()],
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_metadata: Annotated[str | None, Header()] = None,
) -> Response:
    _tus_version(tus_resumable)
    access.require(user, "upload")
    metadata = parse_metadata(upload_metadata)
    case_no = metadata.get("case")
    if case_no and not access.can_write_case(user, case_no) and not user.can_read_case(case_no):
        access.denied(svc, user, "upload", case_no, case=case_no)
    info = uploads.create(user, upload_length, metadata)
    svc.record("upload.created", info.id, {"user": user.name, "length": upload_length,
                                           "metadata": metadata})  # fmt: skip
    location = str(request.url_for("head_upload", upload_id=info.id))
    return Response(status_code=201, headers={**TUS, "Location": location})


@router.head("/{upload_id}", response_class=Response, responses={404: {}})
def head_upload(upload_id: str, user: CurrentUser, uploads: UploadsDep) -> Response:
    info = uploads.load(upload_id, user)
    return Response(status_code=200, headers={
        **TUS,
        "Upload-Offset": str(info.offset),
        "Upload-Length": str(info.length),
        "Cache-Control": "no-store",
    })  # fmt: skip


@router.patch("/{upload_id}", status_code=204, response_class=Response,
              responses={404: {}, 409: {}, 415: {}, 460: {}})  # fmt: skip
async def patch_upload(
    upload_id: str,
    request: Request,
    svc: UserSvc,
    user: CurrentUser,
    uploads: UploadsDep,
    metrics: MetricsDep,
    background: BackgroundTasks,
    upload_offset: Annotated[int, Header()],
    content_type: Annotated[str | None, Header()] = None,
    tus_resumable: Annotated[str | None, Header()] = None,
    upload_checksum: Annotated[str | None, Header()] = None,
) -> Response:
    _tus_version(tus_resumable)
    if (content_type or "").split(";")[0].strip() != "application/offset+octet-stream":
        raise HTTPException(415, "Content-Type must be application/offset+octet-stream")
    checksum = parse_checksum(upload_checksum)
    lock = uploads.lock(upload_id)
    if not lock.acquire(blocking=False):
        raise OffsetConflict(f"another request is writing upload {upload_id}")
    try:
        info = uploads.load(upload_id, user)
        append = uploads.begin_append(info, upload_offset, checksum)
        complete_body = True
        try:
            async for chunk in request.stream():
                if chunk:
                    append.write(chunk)
                    metrics.upload_bytes.inc(len(chunk))
        except ClientDisconnect:
            complete_body = False
        except UploadError:
            append.finish(complete_body=False)
            raise
        offset = await run_in_threadpool(append.finish, complete_body=complete_body)
    finally:
        lock.release()
    if info.state == "complete":
        background.add_task(_acquire, uploads, svc, info, metrics)
    return Response(status_code=204, headers={**TUS, "Upload-Offset": str(offset)})


@router.delete("/{upload_id}", status_code=204, response_class=Response, responses={404: {}})
def delete_upload(upload_id: str, svc: UserSvc, user: CurrentUser, uploads: UploadsDep) -> Response:
    info = uploads.load(upload_id, user)
    uploads.delete(info)
    svc.record("upload.terminated", info.id, {"user": user.name, "offset": info.offset})
    return Response(status_code=204, headers=TUS)


@router.get("/{upload_id}", responses={404: {}})
def show_upload(upload_id: str, user: CurrentUser, uploads: UploadsDep) -> UploadOut:
    """The upload's state and, once acquired, its custody receipt entry."""
    return _out(uploads.load(upload_id, user))


@router.get(
    "/batches/{batch}/receipt",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}, 404: {}},
)
def batch_receipt(
    batch: str,
    user: CurrentUser,
    uploads: UploadsDep,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the query's name
) -> Response:
    """One custody receipt for the whole batch, as JSON or CSV (as `custos ingest` writes)."""
    infos = uploads.batch(user, batch)
    if not infos:
        raise HTTPException(404, f"no uploads of yours in batch {batch!r}")
    receipt = upload_service.batch_receipt(infos, batch, user.name, socket.gethostname())
    name = f"receipt-batch-{re.sub(r'[^A-Za-z0-9_.-]', '_', batch)[:80]}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return Response(receipt.csv_text(), media_type="text/csv; charset=utf-8", headers=headers)
    body = json.dumps(receipt.to_json(), ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/batches/{batch}")
def show_batch(batch: str, user: CurrentUser, uploads: UploadsDep) -> list[UploadOut]:
    """Every upload of one batch (one dropped folder) the caller made."""
    return [_out(i) for i in uploads.batch(user, batch)]

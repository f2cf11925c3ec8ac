"""Media: reading upload files safely, and the `uploadMedia` workflow tool.

Files are read only from inside X_MEDIA_DIR, after resolving symlinks, so an agent (or a prompt
injected into one) cannot make the server upload ~/.ssh or /etc/passwd to X.
`uploadMedia` runs X's chunked upload (INIT, APPEND per chunk, FINALIZE, STATUS polling while X
processes video) with the catalog's own tools, so validation, credentials and retries are the
same as for any tool call.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread

from xapi_mcp.calls.arguments import prepare
from xapi_mcp.calls.results import ToolOutcome, dumps, snippet
from xapi_mcp.calls.workflow import Progress, Workflow
from xapi_mcp.errors import ArgumentError, MediaError
from xapi_mcp.tools.tooldef import ToolDef

MB = 1024 * 1024
CHUNK_BYTES = 4 * MB  # X accepts up to 5 MB per APPEND
SEGMENT_LIMIT = 5 * MB
# X's size limits per media category (X's media docs): images 5 MB (JPG, PNG, WEBP), animated GIF 15 MB,
# video 512 MB. X names no limit for subtitles; an SRT/VTT file is kilobytes, so the image limit bounds it.
CATEGORY_LIMITS = {
    "tweet_image": (5 * MB, "images (JPG, PNG, WEBP)"),
    "dm_image": (5 * MB, "images (JPG, PNG, WEBP)"),
    "tweet_gif": (15 * MB, "animated GIFs"),
    "dm_gif": (15 * MB, "animated GIFs"),
    "tweet_video": (512 * MB, "video"),
    "dm_video": (512 * MB, "video"),
    "amplify_video": (512 * MB, "video"),
    "subtitles": (5 * MB, "subtitles"),
}
MAX_PROCESSING_WAIT = 300.0


def resolve_media_path(user_path: str, media_dir: Path | None) -> Path:
    """The real path of `user_path`, which must be a regular file inside `media_dir`."""
    if media_dir is None:
        raise MediaError(
            "Uploading from a file is off: set X_MEDIA_DIR to the folder whose files may be uploaded "
            "(or send the bytes base64-encoded instead)."
        )
    root = media_dir.expanduser().resolve()
    candidate = Path(user_path).expanduser()
    real = (candidate if candidate.is_absolute() else root / candidate).resolve()  # follows symlinks
    if not real.is_relative_to(root):
        raise MediaError(f"'{user_path}' is outside X_MEDIA_DIR ({root}); only files inside it can be uploaded.")
    if not real.is_file():
        raise MediaError(f"'{user_path}' is not a file inside X_MEDIA_DIR ({root}).")
    return real


def check_size(label: str, size: int, category: str, mime: str) -> int:
    """X's limit for `category` (or, for a category X names no limit for, for the file's type); raises above it.

    Runs before a byte is read or sent: a 200 MB file must not be loaded to learn that X refuses it.
    """
    if category not in CATEGORY_LIMITS:
        category = _category(mime)
    limit, what = CATEGORY_LIMITS[category]
    if size > limit:
        video = mime.startswith("video/") and not category.endswith("video")
        hint = " Video goes to X with uploadMedia and media_category tweet_video." if video else ""
        raise MediaError(
            f"{label} is {size:,} bytes ({size / MB:.1f} MB), over X's limit of {limit // MB} MB ({limit:,} bytes) "
            f"for {what}, media category {category}. Use a smaller file (compress or resize it).{hint}"
        )
    return limit


def read_media(user_path: str, media_dir: Path | None, fields: dict[str, Any] | None = None) -> tuple[str, bytes, str]:
    """(file name, bytes, MIME type) for a multipart part of one request, its size checked before reading.

    `fields` are the request's other fields: its media_category picks the limit; with a segment_index the
    file is one APPEND segment, which X caps at 5 MB.
    """
    real = resolve_media_path(user_path, media_dir)
    mime = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
    fields = fields or {}
    size = real.stat().st_size
    if "segment_index" in fields:
        limit = SEGMENT_LIMIT
        if size > limit:
            raise MediaError(
                f"'{user_path}' is {size:,} bytes, over X's limit of {limit // MB} MB ({limit:,} bytes) for one "
                "APPEND segment. Upload the whole file with uploadMedia, which sends it in chunks."
            )
    else:
        limit = check_size(f"'{user_path}'", size, str(fields.get("media_category") or ""), mime)
    with real.open("rb") as file:
        content = file.read(limit + 1)  # bounded even if the file grew since it was measured
    if len(content) > limit:
        raise MediaError(f"'{user_path}' grew while it was read; it is now over X's limit of {limit:,} bytes.")
    return real.name, content, mime


async def run_upload(workflow: Workflow, tool: ToolDef, args: dict[str, Any], progress: Progress | None) -> ToolOutcome:
    """uploadMedia with `args` already validated against its schema (Executor.call/preflight)."""
    tools = workflow.tools
    try:
        source = _source(args, workflow.media_dir)
        media_type = args.get("media_type") or source.mime
        category = args.get("media_category") or _category(media_type)
        check_size(source.label, source.size, category, media_type)
    except ArgumentError as exc:
        return ToolOutcome(f"uploadMedia: {exc}", True)
    except MediaError as exc:
        return ToolOutcome(f"uploadMedia: {exc} Nothing was sent to X.", True)
    total = source.size
    chunks = max(1, -(-total // CHUNK_BYTES))

    async def report(done: float, message: str) -> None:
        if progress is not None:
            await progress(done, chunks + 2, message)

    init_args = {"media_type": media_type, "total_bytes": total, "media_category": category}
    outcome, body = await _step(workflow, tools["initializeMediaUpload"], init_args)
    if outcome.is_error:
        return outcome
    if workflow.dry_run:  # the later steps need the media id X would have returned
        size = CHUNK_BYTES // 2**20
        plan = f"then {chunks} APPEND request(s) of up to {size} MB, FINALIZE and, for video, STATUS"
        return ToolOutcome(outcome.text, note=f"X_API_DRY_RUN=1: uploadMedia would send this INIT, {plan}.")
    media_id = str(_data(body).get("id") or _data(body).get("media_id") or "")
    if not media_id:
        return ToolOutcome(f"uploadMedia: X's INIT answer has no media id: {snippet(outcome.text)}", True)
    await report(1, "initialised")
    append = tools["appendMediaUpload"]
    with source.open() as reader:  # one chunk in memory at a time, read when it is sent
        for index in range(chunks):
            chunk = await anyio.to_thread.run_sync(reader.read, CHUNK_BYTES)
            if not chunk and total:
                return ToolOutcome(f"uploadMedia: {source.label} got shorter while it was uploaded; try again.", True)
            segment = {"id": media_id, "segment_index": index, "media": "-"}
            outcome, _ = await _step(workflow, append, segment, files={"media": (source.name, chunk)})
            del chunk
            if outcome.is_error:
                return ToolOutcome(f"uploadMedia: chunk {index + 1} of {chunks} failed. {outcome.text}", True)
            await report(1 + index + 1, f"uploaded chunk {index + 1} of {chunks}")
    outcome, body = await _step(workflow, tools["finalizeMediaUpload"], {"id": media_id})
    if outcome.is_error:
        return outcome
    info = _data(body).get("processing_info")
    deadline = time.monotonic() + MAX_PROCESSING_WAIT
    while (
        isinstance(info, dict) and info.get("state") in ("pending", "in_progress") and "getMediaUploadStatus" in tools
    ):
        if time.monotonic() > deadline:
            return ToolOutcome(f"uploadMedia: X is still processing media {media_id}; check again later.", True)
        await anyio.sleep(min(float(info.get("check_after_secs", 1)), 10))
        status_args = {"media_id": media_id, "command": "STATUS"}
        outcome, body = await _step(workflow, tools["getMediaUploadStatus"], status_args)
        if outcome.is_error:
            return outcome
        info = _data(body).get("processing_info")
        await report(chunks + 1, f"X is processing ({(info or {}).get('progress_percent', '?')}%)")
    if isinstance(info, dict) and info.get("state") == "failed":
        return ToolOutcome(f"uploadMedia: X could not process the media: {dumps(info.get('error', info))}", True)
    await report(chunks + 2, "done")
    result = {"media_id": media_id, "size": total, "media_type": media_type, "media_category": category}
    if _data(body).get("media_key"):
        result["media_key"] = _data(body)["media_key"]
    return ToolOutcome(dumps(result), note='Attach it with createPosts: media={"media_ids": ["' + media_id + '"]}.')


async def _step(
    workflow: Workflow,
    tool: ToolDef,
    arguments: dict[str, Any],
    files: dict[str, tuple[str, bytes]] | None = None,
) -> tuple[ToolOutcome, Any]:
    try:
        request = prepare(tool, arguments)
    except ArgumentError as exc:
        return ToolOutcome(f"uploadMedia ({tool.name}): {exc}", True), None
    for prop, (name, content) in (files or {}).items():
        request.body.pop(prop, None)
        request.files[prop] = (name, content, "application/octet-stream")
    outcome = await workflow.send(tool, request)
    try:
        return outcome, json.loads(outcome.text) if not outcome.is_error else None
    except ValueError:
        return outcome, None


def check_upload(workflow: Workflow, args: dict[str, Any]) -> None:
    """What run_upload would refuse (ArgumentError, MediaError), without reading the file."""
    if "path" in args and "data" not in args:
        resolve_media_path(args["path"], workflow.media_dir)
    else:
        _source(args, workflow.media_dir)  # base64 data, or neither/both: no file is read


def _data(body: Any) -> dict[str, Any]:
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class _Source:
    """What uploadMedia sends: a file, measured now and read chunk by chunk later, or decoded bytes."""

    name: str
    label: str  # how messages name it
    size: int
    mime: str
    path: Path | None = None
    data: bytes = b""

    def open(self) -> BinaryIO:
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.data)


def _source(args: dict[str, Any], media_dir: Path | None) -> _Source:
    if ("path" in args) == ("data" in args):
        raise ArgumentError("give exactly one of path (a file inside X_MEDIA_DIR) or data (base64).")
    if "path" in args:
        real = resolve_media_path(args["path"], media_dir)
        mime = mimetypes.guess_type(real.name)[0] or "application/octet-stream"
        return _Source(real.name, f"'{args['path']}'", real.stat().st_size, mime, path=real)
    try:
        content = base64.b64decode(args["data"], validate=True)
    except (binascii.Error, ValueError):
        raise ArgumentError("data is not valid base64.") from None
    if not args.get("media_type"):
        raise ArgumentError("with data, media_type is required (e.g. image/png).")
    return _Source("upload", "the data", len(content), args["media_type"], data=content)


def _category(media_type: str) -> str:
    if media_type == "image/gif":
        return "tweet_gif"
    if media_type.startswith("video/"):
        return "tweet_video"
    if media_type in ("text/srt", "text/vtt"):
        return "subtitles"
    return "tweet_image"

"""Media uploads: files only from X_MEDIA_DIR, multipart for binary fields, and the chunked uploadMedia."""

from __future__ import annotations

import base64
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests import fake_x as fx
from tests.conftest import catalog_for
from tests.fake_x import FakeX
from tests.servers import PIDS, run_xapi_mcp, serve_asgi, server_env
from xapi_mcp.calls import media
from xapi_mcp.calls.executor import Executor
from xapi_mcp.server.mcp_server import build_server
from xapi_mcp.stores import MemoryTokenStore
from xapi_mcp.tools.workflows import upload_tool


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, valid PNG (RGB, red pixels)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "red.png").write_bytes(png_bytes())
    (tmp_path / "secret.txt").write_text("not for X")
    os.symlink(tmp_path / "secret.txt", folder / "sneaky.png")
    os.symlink("/etc/passwd", folder / "passwd.png")
    return folder


def tools() -> dict[str, Any]:
    catalog = dict(catalog_for("2.159").tools)
    upload = upload_tool(catalog)
    assert upload is not None
    catalog[upload.name] = upload
    return catalog


def call(x_url: str, media_dir: Path | None, name: str, args: dict[str, Any]) -> tuple[bool, str, list[float]]:
    """Through the MCP client, with a progress callback, as an agent would."""
    catalog = tools()
    store = MemoryTokenStore(
        fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.BEARER_TOKEN
    )
    executor = Executor(x_url, store, media_dir=media_dir, tools=catalog)
    server = build_server(catalog, executor, confirm_writes=False)
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def run() -> tuple[bool, str]:
        try:
            async with Client(server) as client:
                result = await client.call_tool(name, args, progress_callback=on_progress)
                return result.is_error, result.content[0].text
        finally:
            await executor.aclose()

    is_error, text = anyio.run(run)
    return is_error, text, seen


def test_png_from_media_dir_goes_as_multipart(fake_x: tuple[FakeX, str], media_dir: Path) -> None:
    fake, url = fake_x
    is_error, text, _ = call(url, media_dir, "mediaUpload", {"media_path": "red.png", "media_category": "tweet_image"})
    assert not is_error, text
    (request,) = fake.requests
    assert request.path == "/2/media/upload" and request.headers["content-type"].startswith("multipart/form-data")
    assert request.auth_kind == "oauth1"  # multipart bodies are not in the signature base string
    media_id = json.loads(text)["data"]["id"]
    assert fake.assembled(media_id) == png_bytes()
    assert fake.uploads[media_id]["media_category"] == "tweet_image"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "is outside X_MEDIA_DIR"),
        ("../secret.txt", "is outside X_MEDIA_DIR"),
        ("sneaky.png", "is outside X_MEDIA_DIR"),  # a symlink inside pointing out
        ("passwd.png", "is outside X_MEDIA_DIR"),
        ("missing.png", "is not a file inside X_MEDIA_DIR"),
        (".", "is not a file inside X_MEDIA_DIR"),
    ],
)
def test_files_outside_media_dir_are_refused(
    fake_x: tuple[FakeX, str], media_dir: Path, path: str, reason: str
) -> None:
    fake, url = fake_x
    args = {"media_path": path, "media_category": "tweet_image"}
    is_error, text, _ = call(url, media_dir, "mediaUpload", args)
    assert is_error and reason in text and "Nothing was sent to X." in text
    is_error, text, _ = call(url, media_dir, "uploadMedia", {"path": path})
    assert is_error and reason in text
    assert fake.requests == []


def test_without_media_dir_files_are_off(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    is_error, text, _ = call(url, None, "mediaUpload", {"media_path": "red.png", "media_category": "tweet_image"})
    assert is_error and "set X_MEDIA_DIR" in text and fake.requests == []


def test_upload_media_in_chunks_with_progress(fake_x: tuple[FakeX, str], media_dir: Path) -> None:
    fake, url = fake_x
    content = os.urandom(2 * media.CHUNK_BYTES + 12345)
    (media_dir / "clip.mp4").write_bytes(content)
    is_error, text, progress = call(url, media_dir, "uploadMedia", {"path": "clip.mp4"})
    assert not is_error, text
    result = json.loads(text)
    media_id = result["media_id"]
    assert result["media_type"] == "video/mp4" and result["media_category"] == "tweet_video"
    assert fake.uploads[media_id]["total_bytes"] == len(content)
    assert fake.assembled(media_id) == content  # 3 chunks, in order, nothing lost
    paths = [r.path for r in fake.requests]
    assert paths.count(f"/2/media/upload/{media_id}/append") == 3
    assert paths[-1] == "/2/media/upload" and fake.uploads[media_id]["polls"] == 2  # STATUS polled until done
    assert progress and progress == sorted(progress) and progress[-1] == 5  # INIT + 3 chunks + done


def test_upload_media_from_base64(fake_x: tuple[FakeX, str]) -> None:
    fake, url = fake_x
    data = base64.b64encode(png_bytes()).decode()
    is_error, text, _ = call(url, None, "uploadMedia", {"data": data, "media_type": "image/png"})
    assert not is_error, text
    assert fake.assembled(json.loads(text)["media_id"]) == png_bytes()
    is_error, text, _ = call(url, None, "uploadMedia", {"data": "%%%", "media_type": "image/png"})
    assert is_error and "not valid base64" in text
    is_error, text, _ = call(url, None, "uploadMedia", {})
    assert is_error and "exactly one of path" in text


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk space."""
    with path.open("wb") as file:
        file.truncate(size)
    return path


@pytest.mark.parametrize(
    ("name", "size", "tool", "args", "limit"),
    [
        ("big.png", 200 * media.MB, "mediaUpload", {"media_path": "big.png", "media_category": "tweet_image"}, "5 MB"),
        ("big.png", 200 * media.MB, "uploadMedia", {"path": "big.png"}, "5 MB"),  # category from the file type
        ("anim.gif", 16 * media.MB, "uploadMedia", {"path": "anim.gif"}, "15 MB"),
        ("anim.gif", 6 * media.MB, "uploadMedia", {"path": "anim.gif", "media_category": "tweet_image"}, "5 MB"),
        ("clip.mp4", 513 * media.MB, "uploadMedia", {"path": "clip.mp4"}, "512 MB"),
        (
            "seg.mp4",
            6 * media.MB,
            "appendMediaUpload",
            {"id": "1", "segment_index": 0, "media_path": "seg.mp4"},
            "5 MB",
        ),
    ],
)
def test_file_over_xs_limit_is_refused_before_anything_is_sent(
    fake_x: tuple[FakeX, str], media_dir: Path, name: str, size: int, tool: str, args: dict[str, Any], limit: str
) -> None:
    fake, url = fake_x
    sparse(media_dir / name, size)
    is_error, text, _ = call(url, media_dir, tool, args)
    assert is_error and f"is {size:,} bytes" in text and f"limit of {limit}" in text, text
    category = args.get("media_category") or {"png": "tweet_image", "gif": "tweet_gif", "mp4": "tweet_video"}[name[-3:]]
    assert f"media category {category}" in text or "APPEND segment" in text
    assert "Nothing was sent to X." in text and fake.requests == []


def test_file_at_the_limit_is_sent(fake_x: tuple[FakeX, str], media_dir: Path) -> None:
    fake, url = fake_x
    sparse(media_dir / "edge.png", 5 * media.MB)
    is_error, text, _ = call(url, media_dir, "mediaUpload", {"media_path": "edge.png", "media_category": "tweet_image"})
    assert not is_error, text
    assert fake.uploads[json.loads(text)["data"]["id"]]["sizes"] == {0: 5 * media.MB}


def peak_rss_mb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process, in MB: its peak and current resident memory."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmHWM"].split()[0]) // 1024, int(fields["VmRSS"].split()[0]) // 1024


def test_200_mb_video_streams_in_chunks_and_memory_stays_low(tmp_path: Path) -> None:
    """A real server: the 200 MB file goes to X one chunk at a time; a 200 MB image is refused unread."""
    folder = tmp_path / "media"
    folder.mkdir()
    sparse(folder / "big.mp4", 200 * media.MB)
    sparse(folder / "big.png", 200 * media.MB)
    fake = FakeX(keep_media=False)
    with serve_asgi(fake.app()) as x_url, run_xapi_mcp(server_env(x_url, X_MEDIA_DIR=str(folder))) as mcp_url:

        async def run(name: str, args: dict[str, Any]) -> tuple[bool, str]:
            async with Client(mcp_url) as client:
                result = await client.call_tool(name, args)
                return bool(result.is_error), result.content[0].text

        assert not anyio.run(run, "getUsersByUsername", {"username": "jack"})[0]  # warm: imports, connections
        before, _ = peak_rss_mb(PIDS[mcp_url])
        is_error, text = anyio.run(run, "mediaUpload", {"media_path": "big.png", "media_category": "tweet_image"})
        assert is_error and "is 209,715,200 bytes" in text and "limit of 5 MB" in text, text
        assert fake.count("/2/media/upload") == 0
        refused, _ = peak_rss_mb(PIDS[mcp_url])
        is_error, text = anyio.run(run, "uploadMedia", {"path": "big.mp4"})
        after, _ = peak_rss_mb(PIDS[mcp_url])
    assert not is_error, text
    upload = fake.uploads[json.loads(text)["media_id"]]
    assert upload["total_bytes"] == 200 * media.MB and upload["media_category"] == "tweet_video"
    assert upload["sizes"] == {i: media.CHUNK_BYTES for i in range(50)}  # 50 APPENDs of 4 MB, in order
    print(f"\nserver peak RSS: {before} MB before, {refused} MB after the refused image, {after} MB after the video")
    assert after - before < 200, (before, refused, after)  # the file is 200 MB; reading it whole took 200+

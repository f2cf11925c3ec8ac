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
from xapi_mcp import media
from xapi_mcp.auth.credentials import TokenStore
from xapi_mcp.executor import Executor
from xapi_mcp.mcp_app import build_server


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
    upload = media.upload_tool(catalog)
    assert upload is not None
    catalog[upload.name] = upload
    return catalog


def call(x_url: str, media_dir: Path | None, name: str, args: dict[str, Any]) -> tuple[bool, str, list[float]]:
    """Through the MCP client, with a progress callback, as an agent would."""
    catalog = tools()
    store = TokenStore(fx.CONSUMER_KEY, fx.CONSUMER_SECRET, fx.ACCESS_TOKEN, fx.ACCESS_TOKEN_SECRET, fx.BEARER_TOKEN)
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

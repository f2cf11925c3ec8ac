"""A scripted fake of xAI's chat-completions API: answers from a list, records what it was sent."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "xai-Fk8sLq2WmZr8TbVx1uYh3JdNc5PeRt7AoGi9-KbMn4QsUvWxYz0aB"
# A step that keeps the request open until `FakeXai.release` is set (to interrupt a client mid-request).
HANG = "hang"


def tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    function = {"name": name, "arguments": json.dumps(arguments)}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": function}],
    }


def answer(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


@dataclass
class FakeXai:
    # Messages to answer with; an HTTP status to fail with, or (status, body) to fail with that body; HANG.
    script: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])

    async def complete(self, request: Request) -> Response:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if sent != API_KEY:  # what xAI answers a wrong key with: 400, the key masked
            masked = f"{sent[:2]}***{sent[-2:]}"
            error = f"Incorrect API key provided: {masked}. You can obtain an API key from https://console.x.ai."
            return JSONResponse({"code": "Client specified an invalid argument", "error": error}, status_code=400)
        self.requests.append(json.loads(await request.body()))
        step = self.script.pop(0) if self.script else answer("(script ended)")
        if step == HANG:
            while not self.release.is_set():
                await anyio.sleep(0.05)
            step = answer("(released)")
        if isinstance(step, int):
            return JSONResponse({"error": "scripted failure"}, status_code=step)
        if isinstance(step, tuple):
            status, body = step
            return JSONResponse(body, status_code=status)
        return JSONResponse({"id": "chat-1", "choices": [{"index": 0, "message": step, "finish_reason": "stop"}]})

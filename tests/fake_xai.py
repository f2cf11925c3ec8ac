"""A scripted fake of xAI's chat-completions API: answers from a list, records what it was sent."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "xai-Fk8sLq2WmZr8TbVx1uYh3JdNc5PeRt7AoGi9-KbMn4QsUvWxYz0aB"


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
    script: list[dict[str, Any] | int] = field(default_factory=list)  # messages, or an HTTP status to fail with
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])

    async def complete(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse({"error": "Incorrect API key provided"}, status_code=401)
        self.requests.append(json.loads(await request.body()))
        step = self.script.pop(0) if self.script else answer("(script ended)")
        if isinstance(step, int):
            return JSONResponse({"error": "scripted failure"}, status_code=step)
        return JSONResponse({"id": "chat-1", "choices": [{"index": 0, "message": step, "finish_reason": "stop"}]})

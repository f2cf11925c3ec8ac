"""A spec host for the URL, cache and revalidation tests: serves a tiny OpenAPI document with an ETag."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MINI = {"openapi": "3.0.3", "info": {"version": "1.2"}, "paths": {}}


class SpecServer:
    """Serves MINI with an ETag; can be told to fail."""

    def __init__(self) -> None:
        self.hits: list[str | None] = []
        self.status = 200

    def app(self) -> Starlette:
        async def spec(request: Request) -> Response:
            self.hits.append(request.headers.get("if-none-match"))
            if self.status != 200:
                return Response("down", status_code=self.status)
            if request.headers.get("if-none-match") == '"v1"':
                return Response(status_code=304)
            return Response(json.dumps(MINI), media_type="application/json", headers={"ETag": '"v1"'})

        return Starlette(routes=[Route("/2/openapi.json", spec)])

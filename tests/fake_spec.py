"""A spec host for the URL, cache and revalidation tests: serves a tiny OpenAPI document with an ETag."""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MINI = {"openapi": "3.0.3", "info": {"version": "1.2"}, "paths": {}}


def _list_of(schema: str, limit: bool = False) -> dict[str, Any]:
    """A GET whose 200 answer's `data` is a list of `schema` (what billing reads the category from)."""
    params = [{"name": "max_results", "in": "query", "schema": {"type": "integer", "default": 10, "maximum": 100}}]
    body = {
        "type": "object",
        "properties": {"data": {"type": "array", "items": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    return {
        "operationId": f"list{schema}s",
        "parameters": params if limit else [],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": body}}}},
    }


# A newer spec's gap: `Widget` is a response schema no X price covers, next to one priced read.
PRICED_MINI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"version": "9.1"},
    "paths": {
        "/2/tweets/search/recent": {"get": _list_of("Tweet", limit=True)},
        "/2/widgets": {"get": _list_of("Widget")},
    },
    "components": {
        "schemas": {
            "Tweet": {"type": "object", "properties": {"id": {"type": "string"}}},
            "Widget": {"type": "object", "properties": {"id": {"type": "string"}}},
        }
    },
}


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

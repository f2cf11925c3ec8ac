"""A small OpenAPI 3.1 document with what X's spec lacks today but any spec may have; a big one."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from tests.conftest import load_document


def synthetic_spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Synthetic", "version": "9.9"},
        "security": [{"Bearer": []}],
        "components": {
            "securitySchemes": {
                "Bearer": {"type": "http", "scheme": "bearer"},
                "User": {"type": "http", "scheme": "OAuth"},
            },
            "parameters": {
                "Id": {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"$ref": "#/components/schemas/Id"},
                    "description": "The [Thing](#Thing) ID. More words here that a model does not need.",
                }
            },
            "schemas": {
                "Id": {"type": "string", "pattern": "^[0-9]{1,19}$", "example": "123"},
                "Node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "child": {"$ref": "#/components/schemas/Node"},
                    },
                },
                "Base": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
                "Thing": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Base"},
                        {
                            "type": "object",
                            "properties": {"b": {"type": ["string", "null"], "format": "date"}},
                        },
                    ]
                },
            },
        },
        "paths": {
            "/things/{id}": {
                "parameters": [{"$ref": "#/components/parameters/Id"}],
                "get": {
                    "operationId": "getThing",
                    "summary": "Get a thing",
                    "tags": ["Things"],
                    "parameters": [
                        {
                            "name": "thing.fields",
                            "in": "query",
                            "style": "form",
                            "explode": False,
                            "schema": {
                                "type": "array",
                                "uniqueItems": True,
                                "items": {"enum": ["a", "b", "c"]},
                            },
                        },
                        {
                            "name": "tag",
                            "in": "query",
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 5},
                        },
                        {"name": "level", "in": "query", "schema": {"type": "integer", "enum": [1, 2]}},
                    ],
                },
                "put": {
                    "operationId": "replaceThing",
                    "summary": "Replace a thing",
                    "security": [{"User": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                    },
                },
                "post": {
                    "operationId": "annotateThing",
                    "summary": "Annotate a thing",
                    "security": [],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "string", "const": "x"},
                                        "tree": {"$ref": "#/components/schemas/Node"},
                                        "readonly_field": {"type": "string", "readOnly": True},
                                    },
                                    "additionalProperties": False,
                                }
                            }
                        }
                    },
                },
            },
            "/things": {
                "post": {
                    "summary": "no operation id here",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {
                                            "type": "object",
                                            "required": ["add"],
                                            "properties": {"add": {"type": "string"}},
                                        },
                                        {
                                            "type": "object",
                                            "required": ["remove"],
                                            "properties": {"remove": {"type": "string"}},
                                        },
                                    ]
                                }
                            }
                        }
                    },
                },
                "delete": {"operationId": "getThing", "summary": "Duplicate id"},
            },
            # A stream by its media type; a path with /stream in it is no sign of one.
            "/things/stream": {
                "get": {
                    "operationId": "streamThings",
                    "summary": "Stream",
                    "responses": {"200": {"content": {"application/x-ndjson; charset=utf-8": {"schema": {}}}}},
                }
            },
            "/things/stream/rules": {
                "get": {
                    "operationId": "getStreamRules",
                    "responses": {"200": {"content": {"application/json": {"schema": {}}}}},
                }
            },
        },
    }


def big_spec(path: Path, extra: int) -> Path:
    """The 2.159 spec with `extra` more read operations (more tools than clients keep), written to `path`."""
    document = copy.deepcopy(load_document("2.159"))
    for n in range(extra):
        operation = copy.deepcopy(document["paths"]["/2/users/me"]["get"])
        operation["operationId"] = f"getExtra{n}"
        document["paths"][f"/2/extra/{n}"] = {"get": operation}
    path.write_text(json.dumps(document))
    return path

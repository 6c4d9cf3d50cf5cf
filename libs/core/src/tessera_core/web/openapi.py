"""The published OpenAPI documents, made to say exactly what the services answer.

FastAPI documents validation failures as its own ``HTTPValidationError`` JSON; Tessera
answers them as problem+json (``validation_failed``), and on the OAuth endpoints in RFC
6749 form. ``finish_openapi`` rewrites those entries, adds the errors every route shares
(a body over the limit), and documents the OAuth endpoints' error bodies. The fuzzing
test (``tests/e2e/test_fuzz.py``) holds the documents to every answer.
"""

from __future__ import annotations

from typing import Any

from tessera_core.errors import OAUTH_ERROR_REF, PROBLEM_JSON

__all__ = [
    "PROBLEM_SCHEMA",
    "finish_openapi",
]

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 6749 §5.2 error response",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "required": ["error", "error_description"],
}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


def _is_oauth(responses: dict[str, Any]) -> bool:
    # OAuthRoute documents its RFC 6749 errors (tessera_core.web.errors.OAUTH_RESPONSES).
    content = responses.get("400", {}).get("content", {})
    return bool(content.get("application/json", {}).get("schema") == OAUTH_ERROR_REF)


def finish_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite ``schema`` (FastAPI's document of a service) in place and return it."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if _is_oauth(responses):
                # A malformed form is answered 400 invalid_request there (RFC 6749 §5.2).
                responses.pop("422", None)
                components["OAuthError"] = OAUTH_ERROR_SCHEMA
                continue
            if "422" in responses:
                codes = responses["422"].get("description", "")
                described = "`validation_failed`" + (f", {codes}" if "`" in codes else "")
                responses["422"] = _problem(described)
            if "requestBody" in operation:
                responses.setdefault("413", _problem("`payload_too_large`"))
    return schema

"""Recorded HTTP interactions (VCR / pytest-recording YAML cassettes): each LLM API call
is handed to the importer of its API, chosen by URL; other requests are skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slmconvert.core.records import CallRecord
from slmconvert.core.text import sniff_json
from slmconvert.importers.anthropic import Anthropic
from slmconvert.importers.base import Importer, Loc, Skip
from slmconvert.importers.common import ShapeError, as_int, need
from slmconvert.importers.gemini import Gemini
from slmconvert.importers.openai import OpenAIChat, OpenAIResponses


class VCRCassette(Importer):
    name = "vcr"
    description = ("Recorded HTTP interactions (VCR/pytest-recording YAML cassettes): each "
                   "LLM API request/response is mapped by its URL (OpenAI chat and Responses, "
                   "Anthropic Messages, Gemini generateContent); other requests are skipped.")
    example = "interactions: [{request: {uri: ..., body: ...}, response: {body: {string: ...}}}]"

    def sniff(self, value: Any) -> bool:
        return isinstance(value, dict) and isinstance(value.get("request"), dict) and (
            "uri" in value["request"])

    @staticmethod
    def _body(part: dict[str, Any]) -> Any:
        if "parsed_body" in part:
            return part["parsed_body"]
        body = part.get("body")
        if isinstance(body, dict):
            body = body.get("string", body)
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        if isinstance(body, str):
            parsed = sniff_json(body)
            return body if parsed is None else parsed
        return body

    def parse(self, value: Any, loc: Loc) -> Iterator[CallRecord | Skip]:
        req_part = need(value, "request", dict, "interaction")
        uri = str(req_part.get("uri", ""))
        path = uri.split("?", 1)[0]
        resp_part = value.get("response") or {}
        status = as_int((resp_part.get("status") or {}).get("code"))
        req, resp = self._body(req_part), self._body(resp_part)
        meta = {"uri": path, "http_status": status}
        if status is not None and status >= 400 and isinstance(resp, dict):
            resp = {"error": resp.get("error", resp)}
        if path.endswith("/chat/completions"):
            if not isinstance(req, dict):
                raise ShapeError("chat completions request without a JSON body")
            yield OpenAIChat.from_pair(req, resp, loc, meta)
        elif path.endswith("/responses"):
            if not isinstance(req, dict):
                raise ShapeError("responses request without a JSON body")
            yield OpenAIResponses.from_pair(req, resp, loc, meta)
        elif path.endswith("/messages") and "anthropic" in uri or path.endswith("/v1/messages"):
            if not isinstance(req, dict):
                raise ShapeError("messages request without a JSON body")
            yield Anthropic.from_pair(req, resp, loc, meta)
        elif ":generateContent" in path or ":streamGenerateContent" in path:
            if not isinstance(req, dict):
                raise ShapeError("generateContent request without a JSON body")
            model = path.rsplit("/models/", 1)[-1].split(":", 1)[0] if "/models/" in path else None
            yield Gemini.from_pair(req, resp, loc, meta, model=model)
        elif "/converse" in path or "bedrock" in uri:
            raise ShapeError("unsupported LLM API: AWS Bedrock Converse")
        else:
            yield Skip(f"not an LLM API call ({path.rsplit('/', 1)[-1] or path})")


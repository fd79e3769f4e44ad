"""A fake Elasticsearch: real HTTP on a loopback port, the few REST calls the Elasticsearch store
makes (index mapping read and create, ``_bulk`` index, ``knn`` search with term filters,
``_delete_by_query``), with exact cosine scores reported as Elasticsearch does ((1 + cos) / 2).
No Elasticsearch server can run on this machine; this checks the store's requests and its
reading of the answers, not Elasticsearch itself."""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from knowledge.tests.fake_embed import FakeEmbedServer


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    clauses = query.get("bool", {})
    for clause in clauses.get("filter", []):
        ((op, cond),) = clause.items()
        ((field, value),) = cond.items()
        actual = doc["metadata"].get(field.removeprefix("metadata."))
        if (op == "term" and actual != value) or (op == "terms" and actual not in value):
            return False
    for clause in clauses.get("must_not", []):
        ((field, value),) = clause["term"].items()
        if doc["metadata"].get(field.removeprefix("metadata.")) == value:
            return False
    return True


def _cosine(a: list[float], b: list[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


class FakeElasticsearch(FakeEmbedServer):
    def __init__(self) -> None:
        super().__init__()
        self.indexes: dict[str, dict[str, Any]] = {}  # name -> {"mappings":..., "docs": {id: source}}
        self.requests: list[tuple[str, str]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{path:.*}", self._handle)

    def docs(self, index: str) -> dict[str, dict[str, Any]]:
        return self.indexes.get(index, {}).get("docs", {})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, method = request.match_info["path"], request.method
        self.requests.append((method, path))
        body = await request.text()
        parts = path.split("/")
        if path == "_bulk" and method == "POST":
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            for action, source in zip(lines[::2], lines[1::2], strict=True):
                target = action["index"]
                self.indexes.setdefault(target["_index"], {"docs": {}})["docs"][target["_id"]] = source
            return web.json_response(
                {"errors": False, "items": [{"index": {"status": 201}}] * (len(lines) // 2)}
            )
        index = parts[0]
        if len(parts) == 1 and method == "PUT":
            if index in self.indexes:
                return web.json_response({"error": {"type": "resource_already_exists_exception"}}, status=400)
            self.indexes[index] = {"mappings": json.loads(body)["mappings"], "docs": {}}
            return web.json_response({"acknowledged": True})
        if index not in self.indexes:
            return web.json_response({"error": {"type": "index_not_found_exception"}}, status=404)
        action = parts[1] if len(parts) > 1 else ""
        docs = self.indexes[index]["docs"]
        if action == "_mapping":
            return web.json_response({index: {"mappings": self.indexes[index].get("mappings", {})}})
        if action == "_delete_by_query":
            query = json.loads(body)["query"]
            gone = [key for key, doc in docs.items() if _matches(doc, query)]
            for key in gone:
                del docs[key]
            return web.json_response({"deleted": len(gone)})
        if action == "_search":
            knn = json.loads(body)["knn"]
            scored = [
                ((1 + _cosine(doc["embedding"], knn["query_vector"])) / 2, key, doc)
                for key, doc in docs.items()
                if _matches(doc, knn["filter"])
            ]
            scored.sort(key=lambda item: -item[0])
            hits = [
                {"_id": key, "_score": score, "_source": {"metadata": doc["metadata"]}}
                for score, key, doc in scored[: knn["k"]]
            ]
            return web.json_response({"hits": {"hits": hits}})
        return web.json_response({"error": f"unexpected {method} {path}"}, status=400)

"""A loopback fake of the Kong Admin API endpoints the broker uses (database mode), as
documented: paged ``GET /consumers`` (``size``, ``offset``, ``next``), ``PUT``/``DELETE
/consumers/{username}`` (delete cascades), ``GET``/``POST /consumers/{c}/key-auth`` (key unique:
409), ``DELETE …/key-auth/{id}``, ``GET /consumers/{c}/acls``, ``PUT``/``DELETE …/acls/{group or
id}``. Unknown consumers answer 404. State is plain dicts the tests read and tamper with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response

Entity = dict[str, Any]


@dataclass
class FakeKong:
    consumers: dict[str, Entity] = field(default_factory=dict)  # by username
    keys: dict[str, Entity] = field(default_factory=dict)  # by id
    acls: dict[str, Entity] = field(default_factory=dict)  # by id
    page_size: int | None = None  # smaller pages than asked for, to exercise paging
    calls: list[str] = field(default_factory=list)

    def keys_of(self, username: str) -> list[str]:
        owner = self.consumers[username]["id"]
        return [key["key"] for key in self.keys.values() if key["consumer"]["id"] == owner]

    def groups_of(self, username: str) -> set[str]:
        owner = self.consumers[username]["id"]
        return {acl["group"] for acl in self.acls.values() if acl["consumer"]["id"] == owner}

    def add_consumer(self, username: str) -> Entity:
        consumer = {"id": str(uuid.uuid4()), "username": username, "custom_id": None}
        self.consumers[username] = consumer
        return consumer

    def app(self) -> FastAPI:
        app = FastAPI()
        fake = self

        def consumer(name: str) -> Entity:
            found = fake.consumers.get(name) or next(
                (c for c in fake.consumers.values() if c["id"] == name), None
            )
            if found is None:
                raise HTTPException(404, {"message": "Not found"})
            return found

        def page(items: list[Entity], request: Request) -> Entity:
            size = min(int(request.query_params.get("size", 100)), 1000)
            if fake.page_size:
                size = min(size, fake.page_size)
            start = int(request.query_params.get("offset", 0))
            chunk = items[start : start + size]
            more = start + size < len(items)
            body: Entity = {"data": chunk, "next": None}
            if more:
                body["offset"] = str(start + size)
                body["next"] = f"{request.url.path}?offset={start + size}&size={size}"
            return body

        @app.middleware("http")
        async def record(request: Request, call_next: Any) -> Response:
            fake.calls.append(f"{request.method} {request.url.path}")
            response: Response = await call_next(request)
            return response

        @app.get("/consumers")
        async def list_consumers(request: Request) -> Entity:
            return page(sorted(fake.consumers.values(), key=lambda c: c["id"]), request)

        @app.put("/consumers/{name}")
        async def put_consumer(name: str, request: Request) -> Entity:
            body = await request.json()
            if body.get("username", name) != name:
                raise HTTPException(400, {"message": "schema violation"})
            return fake.consumers.get(name) or fake.add_consumer(name)

        @app.delete("/consumers/{name}", status_code=204)
        async def delete_consumer(name: str) -> Response:
            gone = consumer(name)
            del fake.consumers[gone["username"]]
            for table in (fake.keys, fake.acls):
                for entity_id in [i for i, e in table.items() if e["consumer"]["id"] == gone["id"]]:
                    del table[entity_id]
            return Response(status_code=204)

        @app.get("/consumers/{name}/key-auth")
        async def list_keys(name: str, request: Request) -> Entity:
            owner = consumer(name)["id"]
            mine = [k for k in fake.keys.values() if k["consumer"]["id"] == owner]
            return page(sorted(mine, key=lambda k: k["id"]), request)

        @app.post("/consumers/{name}/key-auth", status_code=201)
        async def add_key(name: str, request: Request) -> Entity:
            owner = consumer(name)["id"]
            body = await request.json()
            key = body.get("key") or uuid.uuid4().hex
            if any(existing["key"] == key for existing in fake.keys.values()):
                raise HTTPException(409, {"message": "UNIQUE violation detected on key"})
            created = {
                "id": str(uuid.uuid4()),
                "key": key,
                "ttl": body.get("ttl"),
                "consumer": {"id": owner},
            }
            fake.keys[created["id"]] = created
            return created

        @app.delete("/consumers/{name}/key-auth/{key_id}", status_code=204)
        async def delete_key(name: str, key_id: str) -> Response:
            consumer(name)
            fake.keys.pop(key_id, None)
            return Response(status_code=204)

        @app.get("/consumers/{name}/acls")
        async def list_acls(name: str, request: Request) -> Entity:
            owner = consumer(name)["id"]
            mine = [a for a in fake.acls.values() if a["consumer"]["id"] == owner]
            return page(sorted(mine, key=lambda a: a["id"]), request)

        @app.put("/consumers/{name}/acls/{group}")
        async def put_acl(name: str, group: str) -> Entity:
            owner = consumer(name)["id"]
            for acl in fake.acls.values():
                if acl["consumer"]["id"] == owner and acl["group"] == group:
                    return acl
            created = {"id": str(uuid.uuid4()), "group": group, "consumer": {"id": owner}}
            fake.acls[created["id"]] = created
            return created

        @app.delete("/consumers/{name}/acls/{acl}", status_code=204)
        async def delete_acl(name: str, acl: str) -> Response:
            owner = consumer(name)["id"]
            for acl_id, entity in list(fake.acls.items()):
                if entity["consumer"]["id"] == owner and acl in (acl_id, entity["group"]):
                    del fake.acls[acl_id]
            return Response(status_code=204)

        return app

"""Identity limits under concurrency, on a server private to each test: at most 20 roles in
total (built-in ones count), whatever the number of concurrent creates."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.api.conftest import ApiClient, error, sign_in
from tests.conftest import ServerFactory

pytestmark = pytest.mark.e2e


def test_twenty_roles_in_total_under_concurrency(fresh_registry: ServerFactory) -> None:
    server = fresh_registry(workers=2)
    admin = ApiClient(server, token=sign_in(server, *server.admin))
    try:
        existing = admin.ok(admin.get("/roles"))
        builtin = [r["name"] for r in existing["items"] if r["builtin"]]
        assert "Administrator" in builtin and existing["total"] >= 1
        room = 20 - existing["total"]

        def create(i: int) -> int:
            return admin.post("/roles", json={"name": f"role{i:02d}"}).status_code

        with ThreadPoolExecutor(25) as pool:
            codes = list(pool.map(create, range(25)))
        assert codes.count(201) == room, codes
        assert codes.count(409) == 25 - room, codes
        assert admin.ok(admin.get("/roles", params={"pageSize": 100}))["total"] == 20

        body = error(admin.post("/roles", json={"name": "onemore"}), 409, "LIMIT_EXCEEDED")
        assert "at most 20 roles" in body["message"]
        # Deleting one makes room for exactly one.
        made = [r["name"] for r in admin.ok(admin.get("/roles"))["items"] if not r["builtin"]]
        admin.ok(admin.delete(f"/roles/{made[0]}"), 204)
        admin.ok(admin.post("/roles", json={"name": "onemore"}), 201)
        error(admin.post("/roles", json={"name": "twomore"}), 409, "LIMIT_EXCEEDED")
    finally:
        admin.close()

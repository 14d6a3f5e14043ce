"""Signed-in staff sessions for the web tests (one TestClient per member of staff)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(text: str) -> str:
    """The form token on a page."""
    match = CSRF.search(text)
    assert match, "page has no form token"
    return match[1]


@dataclass
class Session:
    client: TestClient
    token: str

    def get(self, url: str, **params: str) -> Any:
        return self.client.get(url, params=params)

    def post(self, url: str, follow: bool = True, files: Any = None, **data: str) -> Any:
        return self.client.post(url, data={"csrf_token": self.token, **data}, files=files,
                                follow_redirects=follow)


@contextlib.contextmanager
def staff_sessions(app: FastAPI, municipality: str,
                   password: str) -> Iterator[Callable[[str], Session]]:
    """Yields ``open_as(staff_id)``; every client is closed afterwards."""
    clients: list[TestClient] = []

    def open_as(staff_id: str) -> Session:
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        page = client.get("/")
        signed = client.post("/signin", data={
            "csrf_token": csrf(page.text), "municipality": municipality, "staff_id": staff_id,
            "password": password,
        })
        assert signed.status_code == 200, signed.text
        return Session(client, csrf(signed.text))

    try:
        yield open_as
    finally:
        for client in clients:
            client.__exit__(None, None, None)

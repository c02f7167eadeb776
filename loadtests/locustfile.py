"""A SmartNote user: registers once, then lists, reads, writes, searches and trashes notes.

Mix (issue 7): list 40 %, get 20 %, create 15 %, update 15 %, search 5 %, delete/restore 5 %.
"""

from __future__ import annotations

import random
import uuid

from locust import HttpUser, between, task

PASSWORD = "tulip-orbit-7-canyon"
WORDS = [
    "meeting",
    "groceries",
    "project",
    "holiday",
    "budget",
    "garden",
    "recipe",
    "travel",
    "idea",
    "book",
]


class NoteUser(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        self.client.post(
            "/auth/register", json={"email": email, "password": PASSWORD}, name="/auth/register"
        )
        token = self.client.post(
            "/auth/token", data={"username": email, "password": PASSWORD}, name="/auth/token"
        ).json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.note_ids: list[str] = []
        for _ in range(3):
            self.create()

    def _body(self) -> dict[str, object]:
        words = random.sample(WORDS, 3)
        return {
            "title": " ".join(words).title(),
            "content": " ".join(words * 10),
            "tags": words[:2],
        }

    @task(40)
    def list_notes(self) -> None:
        self.client.get("/notes", name="/notes [list]")

    @task(20)
    def get(self) -> None:
        self.client.get(f"/notes/{random.choice(self.note_ids)}", name="/notes/{id} [get]")

    @task(15)
    def create(self) -> None:
        response = self.client.post("/notes", json=self._body(), name="/notes [create]")
        if response.status_code == 201:
            self.note_ids.append(response.json()["id"])

    @task(15)
    def update(self) -> None:
        self.client.patch(
            f"/notes/{random.choice(self.note_ids)}",
            json={"content": " ".join(random.sample(WORDS, 5))},
            name="/notes/{id} [update]",
        )

    @task(5)
    def search(self) -> None:
        self.client.get("/notes", params={"q": random.choice(WORDS)}, name="/notes [search]")

    @task(5)
    def delete_restore(self) -> None:
        note_id = random.choice(self.note_ids)
        self.client.delete(f"/notes/{note_id}", name="/notes/{id} [delete]")
        self.client.post(f"/notes/{note_id}/restore", name="/notes/{id}/restore")

"""Manual review of teacher records: a small web page (FastAPI + plain HTML forms).

``teacherforge review --run-dir D`` lists the records of ``D/teacher.jsonl`` whose
``metadata.review_status`` is ``pending`` (flagged by the quality step or by the feedback
loop) with the question, the retrieved sources, the answer, scores and tags. Approve,
reject or edit writes ``review_status`` (``approved``/``rejected``) and a ``review`` entry in
``trace.processing_steps`` into the records file atomically; the dataset builder keeps
only the statuses ``dataset.include_review_statuses`` allows (``auto`` and ``approved`` by
default), so a rejected record never reaches training.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

from teacherforge.run import RunLayout
from teacherforge.workspace import atomic_write_jsonl, read_jsonl, utc_now

DECISIONS = {"approve": "approved", "reject": "rejected"}


class ReviewStore:
    """The teacher records of one run dir, updated atomically one decision at a time."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = RunLayout(run_dir).teacher
        if not self.path.exists():
            raise FileNotFoundError(
                f"{self.path} not found; run `teacherforge teacher` (and `quality`) first"
            )
        self._lock = threading.Lock()

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path)

    def pending(self) -> list[dict[str, Any]]:
        """Records flagged for review."""
        return [r for r in self.records() if _status(r) == "pending"]

    def decide(
        self, record_id: str, decision: str, response: str | None = None, reviewer: str = "web"
    ) -> dict:
        """Apply ``approve``/``reject``/``edit`` to one record and rewrite the file atomically."""
        if decision not in (*DECISIONS, "edit"):
            raise ValueError(f"decision {decision!r}: use approve, reject or edit")
        with self._lock:
            records = self.records()
            record = next((r for r in records if r.get("id") == record_id), None)
            if record is None:
                raise KeyError(f"no record with id {record_id!r} in {self.path}")
            metadata = record.setdefault("metadata", {})
            params: dict[str, Any] = {
                "decision": decision,
                "reviewer": reviewer,
                "previous_status": metadata.get("review_status"),
            }
            if decision == "edit":
                if not response or not response.strip():
                    raise ValueError("an edit needs a non-empty answer")
                params["previous_response"] = record.get("response")
                record["response"] = response.strip()
                metadata["review_status"] = "approved"
            else:
                metadata["review_status"] = DECISIONS[decision]
            trace = record.setdefault("trace", {})
            trace.setdefault("processing_steps", []).append(
                {"name": "review", "timestamp": utc_now(), "params": params}
            )
            atomic_write_jsonl(self.path, records)
            return record


def _status(record: dict[str, Any]) -> str:
    return (record.get("metadata") or {}).get("review_status", "auto")


def render_page(records: list[dict[str, Any]], message: str = "") -> str:
    """The review page: one card per pending record with its sources and three actions."""
    cards = "\n".join(_card(r) for r in records) or "<p id='empty'>Nothing to review.</p>"
    note = f"<p class='msg'>{html.escape(message)}</p>" if message else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>TeacherForge review</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:auto}} .card{{border:1px solid #ccc;padding:1em;margin:1em 0}}
.src{{color:#444;font-size:90%}} textarea{{width:100%}} .msg{{color:#064}}</style></head>
<body><h1>Teacher records to review ({len(records)})</h1>{note}{cards}</body></html>"""


def _card(record: dict[str, Any]) -> str:
    rid = html.escape(str(record.get("id", "")))
    meta = record.get("metadata") or {}
    sources = "".join(
        f"<li class='src'>[{s.get('rank')}] {html.escape(str(s.get('chunk_id')))} "
        f"(score {float(s.get('score', 0)):.3f})</li>"
        for s in record.get("retrieved") or []
    )
    tags = ", ".join(html.escape(str(t)) for t in meta.get("tags") or [])
    return f"""<div class="card" id="record-{rid}">
<p><b>Question:</b> {html.escape(str(record.get("input", "")))}</p>
<ul>{sources}</ul>
<p><b>Answer:</b> <span class="answer">{html.escape(str(record.get("response", "")))}</span></p>
<p class="src">quality {meta.get("quality_score", "–")} · confidence {meta.get("confidence_score", "–")} · tags: {tags or "–"}</p>
<form method="post" action="/records/{rid}/approve" style="display:inline"><button id="approve-{rid}">Approve</button></form>
<form method="post" action="/records/{rid}/reject" style="display:inline"><button id="reject-{rid}">Reject</button></form>
<form method="post" action="/records/{rid}/edit"><textarea name="response" rows="2">{html.escape(str(record.get("response", "")))}</textarea>
<button id="edit-{rid}">Save edit</button></form></div>"""


def create_review_app(run_dir: str | Path) -> Any:
    """The FastAPI app of the review page for ``run_dir``."""
    from fastapi import FastAPI, Form, HTTPException
    from fastapi.responses import HTMLResponse, RedirectResponse

    store = ReviewStore(run_dir)
    app = FastAPI(title="teacherforge review")

    @app.get("/", response_class=HTMLResponse)
    def page(message: str = "") -> str:
        return render_page(store.pending(), message)

    @app.get("/api/pending")
    def pending() -> list[dict[str, Any]]:
        return store.pending()

    def _decide(record_id: str, decision: str, response: str | None = None) -> RedirectResponse:
        try:
            store.decide(record_id, decision, response)
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        done = {"approve": "approved", "reject": "rejected", "edit": "edited"}[decision]
        return RedirectResponse(f"/?message={done} {record_id}", status_code=303)

    @app.post("/records/{record_id}/approve")
    def approve(record_id: str) -> RedirectResponse:
        return _decide(record_id, "approve")

    @app.post("/records/{record_id}/reject")
    def reject(record_id: str) -> RedirectResponse:
        return _decide(record_id, "reject")

    @app.post("/records/{record_id}/edit")
    def edit(record_id: str, response: str = Form(...)) -> RedirectResponse:
        return _decide(record_id, "edit", response)

    return app

"""The RAG server of ``teacherforge serve rag``: a model behind the run's index, as an OpenAI-compatible API.

``POST /v1/chat/completions`` takes an OpenAI chat request (``model``, ``messages``,
``max_tokens``, ``temperature``; non-streaming, one choice), answers the last user message as
evaluation does for the model (:class:`RagAnswerer`: ``fixed`` puts the top-k chunks in the
prompt, ``agentic`` lets the model search through the rollout driver) and returns a
``chat.completion`` object whose message is the answer, plus a top-level ``sources`` list (chunk
id, document, rank, score, snippet of each chunk the answer was given or found), which OpenAI
clients ignore. ``GET /v1/models`` lists the one model, ``GET /health`` says what is served.

Requests are answered one at a time (a lock: one model, one device). Errors have OpenAI's
shape, ``{"error": {"message", "type", "param", "code"}}``: 400 for a request this server does
not take (``stream: true``, ``n`` > 1, no user message), 500 when answering failed (the server
keeps serving).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from teacherforge.config import Config, ServeConfig
from teacherforge.envs.driver import RolloutDriver
from teacherforge.envs.task import build_task
from teacherforge.llm import LLMBackend
from teacherforge.records import Question
from teacherforge.rewards import Rubric
from teacherforge.trainers.evaluate import NATIVE_MODE, fixed_prompts, generation_params
from teacherforge.types import GenerationParams

log = logging.getLogger(__name__)

#: Characters of each source's text returned in ``sources``.
SNIPPET_CHARS = 300
#: A served question has no reference answer and no gold chunk: the episode is scored by nothing costly.
_UNSCORED = Rubric({"exact_match": 0.0})
_NONE = "(none)"


def serving_mode(model: str, setting: str) -> str:
    """The mode ``model`` is served in: ``setting`` (``serve.rag_mode``), where ``native`` is the
    mode the student was trained for (sft: fixed, grpo: agentic) and ``fixed`` for any other model.

    >>> serving_mode("grpo", "native"), serving_mode("teacher", "native"), serving_mode("sft", "agentic")
    ('agentic', 'fixed', 'agentic')
    """
    return NATIVE_MODE.get(model, "fixed") if setting == "native" else setting


@dataclass(frozen=True)
class Source:
    """One chunk an answer was given (fixed) or found (agentic): rank within its search, score, snippet."""

    chunk_id: str
    doc_id: str | None
    rank: int
    score: float
    text: str


@dataclass(frozen=True)
class RagAnswer:
    """The answer to one question (``None``: an agentic episode ended without one) and its sources."""

    answer: str | None
    sources: tuple[Source, ...]
    searches: int
    prompt_tokens: int = 0
    completion_tokens: int = 0


class RagAnswerer:
    """Answers questions with ``backend`` over ``retriever`` in ``mode``, as evaluation does.

    ``fixed``: the evaluation's top-k hits with the teacher's relevance cut-off in the RAG prompt
    (:func:`~teacherforge.trainers.evaluate.fixed_prompts`); ``agentic``: one search episode on
    the configured environment, top-k :attr:`Config.eval_top_k`. ``doc_ids`` maps chunk ids to
    their documents (for ``sources``). One question at a time.
    """

    def __init__(
        self, backend: LLMBackend, retriever: Any, config: Config, mode: str, doc_ids: Mapping[str, str]
    ) -> None:
        if mode not in ("fixed", "agentic"):
            raise ValueError(f"mode {mode!r} is not allowed; choose fixed or agentic")
        self.backend = backend
        self.retriever = retriever
        self.config = config
        self.mode = mode
        self.doc_ids = dict(doc_ids)
        self.answered = 0
        self._lock = threading.Lock()

    def answer(
        self, question: str, max_tokens: int | None = None, temperature: float | None = None
    ) -> RagAnswer:
        """Answer ``question`` (evaluation's greedy decoding and token budget unless given)."""
        params = generation_params(self.config)
        if max_tokens is not None:
            params = dataclasses.replace(params, max_new_tokens=max_tokens)
        if temperature is not None:
            params = dataclasses.replace(params, temperature=temperature)
        with self._lock:
            result = (
                self._fixed(question, params) if self.mode == "fixed" else self._agentic(question, params)
            )
            self.answered += 1
        return result

    def _source(self, chunk_id: str, rank: int, score: float, text: str) -> Source:
        snippet = " ".join(text.split())[:SNIPPET_CHARS]
        return Source(chunk_id, self.doc_ids.get(chunk_id), rank, float(score), snippet)

    def _fixed(self, question: str, params: GenerationParams) -> RagAnswer:
        prompts, hits = fixed_prompts([{"question": question}], self.retriever, self.config)
        (completion,) = self.backend.generate(prompts, params)
        sources = tuple(self._source(h.chunk_id, h.rank, h.score, h.text) for h in hits[0])
        return RagAnswer(
            completion.text.strip(), sources, 0, completion.prompt_tokens, completion.completion_tokens
        )

    def _agentic(self, question: str, params: GenerationParams) -> RagAnswer:
        asked = Question("served", _NONE, question, _NONE, source_chunk_ids=(_NONE,))
        task = build_task(
            self.config,
            retriever=self.retriever,
            questions=[asked],
            top_k=self.config.eval_top_k,
            rubric=_UNSCORED,
        )
        driver = RolloutDriver(task, tokenizer=getattr(self.backend, "tokenizer", None))
        (episode,) = driver.run(self.backend, [asked], params)
        turns = episode.trajectory.turns
        refs: dict[str, Any] = {}
        for turn in turns:
            for ref in turn.retrieved:
                refs.setdefault(ref.chunk_id, ref)  # a chunk found twice: its first hit
        sources = tuple(self._source(r.chunk_id, r.rank, r.score, r.text) for r in refs.values())
        searches = sum(1 for turn in turns if turn.query is not None)
        return RagAnswer(
            episode.trajectory.final_answer,
            sources,
            searches,
            len(episode.prompt_ids),
            sum(episode.env_mask),
        )


class ChatMessage(BaseModel):
    """One message of a chat request (text content, or OpenAI's list of content parts)."""

    role: StrictStr
    content: StrictStr | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """Body of ``POST /v1/chat/completions``; other OpenAI fields (``top_p``, ``seed``, ``stop``) are ignored."""

    model: StrictStr = ""
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    n: StrictInt = 1
    stream: StrictBool = False


def _error(status: int, message: str, param: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return JSONResponse(body, status_code=status)


def create_app(answerer: RagAnswerer, model_id: str, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI app serving ``answerer`` as the model ``model_id`` (limits of ``config``)."""
    config = config or ServeConfig()
    created = int(time.time())
    app = FastAPI(title="teacherforge rag")
    app.state.answerer = answerer

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Any, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"] if part != "body")
        return _error(400, f"{where or 'body'}: {first['msg']}", where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Any, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, dict) else {"message": str(exc.detail)}
        return _error(exc.status_code, detail["message"], detail.get("param"))

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_id, "mode": answerer.mode, "answered": answerer.answered}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        card = {"id": model_id, "object": "model", "created": created, "owned_by": "teacherforge"}
        return {"object": "list", "data": [card]}

    @app.post("/v1/chat/completions")
    def chat(body: ChatRequest) -> dict[str, Any]:
        if body.stream:
            raise HTTPException(
                400, {"message": "stream=true is not supported; send stream=false", "param": "stream"}
            )
        if body.n != 1:
            raise HTTPException(400, {"message": f"n={body.n}: one choice per request", "param": "n"})
        question = next((m.text() for m in reversed(body.messages) if m.role == "user"), "").strip()
        if not question:
            raise HTTPException(400, {"message": "no user message with text to answer", "param": "messages"})
        if len(question) > config.max_query_chars:
            message = f"the question has {len(question)} characters; the limit is {config.max_query_chars} (serve.max_query_chars)"
            raise HTTPException(400, {"message": message, "param": "messages"})
        try:
            result = answerer.answer(
                question, body.max_completion_tokens or body.max_tokens, body.temperature
            )
        except Exception as exc:  # answer the client, keep serving
            log.exception("answering %r failed", question[:80])
            raise HTTPException(500, {"message": f"answering failed: {type(exc).__name__}: {exc}"}) from None
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.answer or ""},
                    "finish_reason": "stop" if result.answer is not None else "length",
                }
            ],
            "usage": {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "total_tokens": result.prompt_tokens + result.completion_tokens,
            },
            "sources": [dataclasses.asdict(s) for s in result.sources],
            "searches": result.searches,
        }

    return app

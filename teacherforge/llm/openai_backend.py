"""Any OpenAI-compatible HTTP server (vLLM serve, Ollama, llama.cpp server, hosted APIs).

Message prompts go to ``/chat/completions``, string prompts to ``/completions``, one
request per prompt asking for ``n`` choices, at most ``concurrency`` requests in flight.
Connect errors, timeouts, HTTP 429 and 5xx are retried ``max_retries`` times with
exponential backoff and jitter (``Retry-After`` honoured, capped). The API key is read
from the environment variable ``api_key_env`` at call time; it never enters ``identity``,
logs, the cache or exception messages.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from teacherforge.types import Completion, GenerationParams, Prompt, prompt_to_json

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class OpenAIBackend:
    """Batched generation through an OpenAI-compatible server (see the module docstring).

    ``identity`` is ``openai:<base_url>:<model>``. Token usage comes from the response's
    ``usage`` (each choice carries the request's prompt tokens; the completion tokens
    are per choice when the server reports logprobs, else the total split evenly).
    Logprobs are parsed when the server returns them (ask with ``request_logprobs``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        request_logprobs: bool = False,
    ) -> None:
        if not base_url:
            raise ValueError("llm.base_url is empty; set it to the server URL, e.g. http://127.0.0.1:8000/v1")
        if concurrency < 1:
            raise ValueError(f"llm.concurrency must be >= 1, got {concurrency}")
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.request_logprobs = request_logprobs
        # URL without user:password, for identity, logs and messages (no credentials, ever)
        self.public_url = str(httpx.URL(self.base_url).copy_with(username=None, password=None))
        self.identity = f"openai:{self.public_url}:{model}"
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    @classmethod
    def from_config(cls, cfg: Any) -> OpenAIBackend:
        """Build from an :class:`~teacherforge.config.LLMConfig` (``base_url`` required)."""
        if not cfg.base_url:
            raise ValueError(
                "llm.base_url is not set for backend 'openai'; set it, e.g. --set llm.base_url=http://127.0.0.1:8000/v1"
            )
        return cls(
            cfg.base_url,
            cfg.model,
            api_key_env=cfg.api_key_env,
            concurrency=cfg.concurrency,
            timeout_s=cfg.timeout_s,
            max_retries=cfg.max_retries,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        """Return ``len(prompts) * params.n`` completions, sample ``i`` of prompt ``p`` at ``p*n+i``."""
        if not prompts:
            return []
        if self.concurrency == 1 or len(prompts) == 1:
            per_prompt = [self._generate_one(p, params) for p in prompts]
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
                per_prompt = list(pool.map(lambda p: self._generate_one(p, params), prompts))
        return [c for group in per_prompt for c in group]

    def _generate_one(self, prompt: Prompt, params: GenerationParams) -> list[Completion]:
        out: list[Completion] = []
        for _ in range(params.n):  # servers that ignore ``n`` return fewer choices; ask again
            out.extend(self._request(prompt, params, params.n - len(out)))
            if len(out) >= params.n:
                break
        if len(out) < params.n:
            raise RuntimeError(
                f"{self.public_url}: server returned {len(out)} of {params.n} requested choices"
            )
        return out[: params.n]

    def _body(self, prompt: Prompt, params: GenerationParams, n: int) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "n": n,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if isinstance(prompt, str):
            body["prompt"] = prompt
            if self.request_logprobs:
                body["logprobs"] = 1
            return "/completions", body
        body["messages"] = prompt_to_json(prompt)
        if self.request_logprobs:
            body["logprobs"] = True
        return "/chat/completions", body

    def _request(self, prompt: Prompt, params: GenerationParams, n: int) -> list[Completion]:
        endpoint, body = self._body(prompt, params, n)
        data = self._post(endpoint, body)
        try:
            completions = _parse(data, n)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{self.public_url}{endpoint}: not an OpenAI {endpoint.strip('/')} response ({exc}): "
                f"{self._redact(str(data)[:200])!r}; point llm.base_url at an OpenAI-compatible server "
                "(e.g. http://127.0.0.1:8000/v1)"
            ) from None
        return [_cut_at_stop(c, params.stop) for c in completions]

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _redact(self, text: str) -> str:
        key = os.environ.get(self.api_key_env)
        return text.replace(key, "***") if key else text

    def _post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        target = self.base_url + endpoint
        url = self.public_url + endpoint  # what messages show
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._client.post(target, json=body, headers=self._headers())
            except httpx.ConnectError as exc:
                if attempt >= self.max_retries:
                    raise ConnectionError(
                        f"cannot reach the OpenAI-compatible server at {self.public_url} "
                        f"({type(exc).__name__} after {attempt + 1} attempts); start the server or fix llm.base_url"
                    ) from None
                reason = type(exc).__name__
            except httpx.TimeoutException as exc:
                if attempt >= self.max_retries:
                    raise TimeoutError(
                        f"{url}: no response within llm.timeout_s={self.timeout_s}s "
                        f"({type(exc).__name__} after {attempt + 1} attempts); raise llm.timeout_s or check the server"
                    ) from None
                reason = type(exc).__name__
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise ConnectionError(
                        f"{url}: transport error {type(exc).__name__} after {attempt + 1} attempts; check the server"
                    ) from None
                reason = type(exc).__name__
            else:
                if response.status_code < 300:
                    try:
                        return response.json()
                    except ValueError:
                        raise ValueError(
                            f"{url}: response is not JSON: {self._redact(response.text[:200])!r}; "
                            "point llm.base_url at an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1)"
                        ) from None
                detail = self._redact(response.text[:300])
                if response.status_code not in _RETRY_STATUS or attempt >= self.max_retries:
                    hint = (
                        f"; check the API key in ${self.api_key_env}"
                        if response.status_code in (401, 403)
                        else ""
                    )
                    raise RuntimeError(
                        f"{url} returned HTTP {response.status_code} after {attempt + 1} attempt(s): {detail!r}{hint}"
                    )
                reason = f"HTTP {response.status_code}"
                retry_after = _retry_after(response.headers.get("retry-after"))
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.5)
            if retry_after is not None:
                delay = min(self.max_backoff_s, max(delay, retry_after))
            attempt += 1
            log.warning("%s: %s; retry %d/%d in %.2fs", url, reason, attempt, self.max_retries, delay)
            time.sleep(delay)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _cut_at_stop(completion: Completion, stop: Sequence[str]) -> Completion:
    """The completion without its stop string, as OpenAI returns it (``transformers serve`` keeps it).

    >>> _cut_at_stop(Completion("One. Two."), (".",)).text
    'One'
    """
    cuts = [i for i in (completion.text.find(s) for s in stop if s) if i >= 0]
    if not cuts:
        return completion
    return replace(completion, text=completion.text[: min(cuts)], finish_reason="stop")


def _finish(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


def _choice_logprobs(choice: dict[str, Any]) -> tuple[float, ...] | None:
    lp = choice.get("logprobs")
    if not lp:
        return None
    if isinstance(lp.get("content"), list):  # chat format
        return tuple(float(t["logprob"]) for t in lp["content"])
    if isinstance(lp.get("token_logprobs"), list):  # completions format
        return tuple(float(x) for x in lp["token_logprobs"] if x is not None)
    return None


def _parse(data: Any, n: int) -> list[Completion]:
    """Completions from a ``/completions`` or ``/chat/completions`` response, in choice order.

    A body of another shape raises ``ValueError`` (or the ``TypeError``/``KeyError`` of the field
    that is wrong); the caller turns it into one line naming the server.
    """
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
        raise ValueError("no 'choices' list of objects")
    choices = sorted(choices, key=lambda c: int(c.get("index", 0)))
    usage = data.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    total_completion = int(usage.get("completion_tokens") or 0)
    logprobs = [_choice_logprobs(c) for c in choices]
    if all(lp is not None for lp in logprobs):
        per_choice = [len(lp or ()) for lp in logprobs]
    else:
        share, extra = divmod(total_completion, len(choices))
        per_choice = [share + (1 if i < extra else 0) for i in range(len(choices))]
    out = []
    for choice, lp, count in zip(choices, logprobs, per_choice):
        message = choice.get("message")
        text = (message.get("content") or "") if isinstance(message, dict) else (choice.get("text") or "")
        if not isinstance(text, str):
            raise TypeError(
                f"the text of choice {choice.get('index', 0)} is a {type(text).__name__}, not a string"
            )
        out.append(
            Completion(
                text=text,
                logprobs=lp,
                prompt_tokens=prompt_tokens,
                completion_tokens=count,
                finish_reason=_finish(choice.get("finish_reason")),
            )
        )
    return out[:n]

"""LLM backends behind one batched interface, plus the SQLite call cache.

``build_backend(cfg)`` turns an :class:`~teacherforge.config.LLMConfig` into a backend:
``transformers`` (local HF model, default the embedded SmolLM2), ``openai`` (any
OpenAI-compatible server), ``vllm`` (in-process engine, GPU extra) or ``custom`` (your own
backend: ``model`` is a dotted ``pkg.module:factory`` returning any object with the
:class:`LLMBackend` interface; the tests plug their scripted :class:`FakeBackend` in this way). Given a
``cache_path``, the backend is wrapped in a :class:`CachedBackend`.

Heavy backends are imported on first use, so ``import teacherforge.llm`` stays cheap.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from teacherforge.llm.base import LIVE_MARKER, LLMBackend, is_live, prompt_text, truncate_at_stop
from teacherforge.llm.fake import FakeBackend

if TYPE_CHECKING:
    from teacherforge.config import ExecutorConfig, LLMConfig
    from teacherforge.llm.cache import CachedBackend, CacheLocked
    from teacherforge.llm.openai_backend import OpenAIBackend
    from teacherforge.llm.ray_backend import RayBackend
    from teacherforge.llm.transformers_backend import TransformersBackend
    from teacherforge.llm.vllm_backend import VLLMBackend

_LAZY = {
    "CachedBackend": "teacherforge.llm.cache",
    "CacheLocked": "teacherforge.llm.cache",
    "TransformersBackend": "teacherforge.llm.transformers_backend",
    "OpenAIBackend": "teacherforge.llm.openai_backend",
    "VLLMBackend": "teacherforge.llm.vllm_backend",
    "RayBackend": "teacherforge.llm.ray_backend",
}

__all__ = [
    "LIVE_MARKER",
    "CacheLocked",
    "CachedBackend",
    "FakeBackend",
    "LLMBackend",
    "OpenAIBackend",
    "RayBackend",
    "TransformersBackend",
    "VLLMBackend",
    "build_backend",
    "is_live",
    "load_factory",
    "prompt_text",
    "truncate_at_stop",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'teacherforge.llm' has no attribute {name!r}")


def load_factory(spec: str) -> Any:
    """Resolve ``"pkg.module:factory"`` and return ``factory()`` (the ``custom`` backend)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"llm.model for backend 'custom' must be 'pkg.module:factory', got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"llm.model {spec!r}: cannot import the custom backend factory ({exc})") from exc
    return factory()


def build_backend(
    cfg: LLMConfig, cache_path: str | os.PathLike[str] | None = None, executor: ExecutorConfig | None = None
) -> LLMBackend:
    """Build the backend ``cfg`` describes; wrap it in a :class:`CachedBackend` when
    ``cache_path`` is given and ``cfg.use_cache`` is true.

    With ``executor.kind == "ray"`` the model runs in Ray actors (:class:`RayBackend`) and
    this process keeps the cache: only misses travel to the workers, only the driver writes.
    """
    backend: LLMBackend
    if executor is not None and executor.kind == "ray":
        from teacherforge.llm.ray_backend import RayBackend

        backend = RayBackend(cfg, num_workers=executor.workers, address=executor.address)
    elif cfg.backend == "custom":
        backend = load_factory(cfg.model)
    elif cfg.backend == "transformers":
        from teacherforge.llm.transformers_backend import TransformersBackend

        backend = TransformersBackend.from_pretrained(
            cfg.model, adapter=cfg.adapter, device=cfg.device, dtype=cfg.dtype, batch_size=cfg.batch_size
        )
    elif cfg.backend == "openai":
        from teacherforge.llm.openai_backend import OpenAIBackend

        backend = OpenAIBackend.from_config(cfg)
    elif cfg.backend == "vllm":
        from teacherforge.llm.vllm_backend import VLLMBackend

        backend = VLLMBackend.from_config(cfg)
    else:  # LLMConfig validates this; kept for direct callers
        from teacherforge.config.llm import BACKENDS

        raise ValueError(f"llm.backend {cfg.backend!r} unknown; allowed: {', '.join(BACKENDS)}")
    if cache_path is not None and cfg.use_cache:
        from teacherforge.llm.cache import CachedBackend

        return CachedBackend(backend, cache_path)
    return backend

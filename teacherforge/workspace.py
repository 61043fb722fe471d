"""Run directories: atomic artifact writes, a lock per run, and the manifest.

A run directory (``runs/<name>/`` by default) holds every artifact of one dataset version.
Every file is written to a temporary sibling and renamed into place, so a crash leaves the
previous version intact; a :class:`RunDir` holds an exclusive lock so two processes cannot
write one run at once; ``manifest.json`` records package versions, model identities and one
record per step: the config keys it read, its inputs' content hashes, its fingerprint and status.

One rule for "already done" serves every stage: a step declares what it reads and writes
(:class:`Step`), and :meth:`RunDir.done` says it is done when its record has the same
fingerprint (those config values + input contents) and every output exists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from teacherforge.errors import CommandError
from teacherforge.run_paths import LAYOUT_VERSION, RunPaths, upgrade_manifest

TRACKED_PACKAGES = (
    "teacherforge",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "gymnasium",
    "faiss-cpu",
    "sentence-transformers",
    "bm25s",
    "vllm",
)


def utc_now() -> str:
    """Current UTC time as ISO-8601 (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: there is no way to read it without setting it


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On an exception the temporary file (or directory) is removed and ``path`` is untouched.
    The result gets the permissions a plain ``open`` would give it (``mkstemp`` makes 0600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, (0o777 if tmp_path.is_dir() else 0o666) & ~_UMASK)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def replace_dir(tmp: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the finished directory ``tmp`` onto ``target`` in one rename, replacing an old one.

    The old directory is first moved aside next to ``target`` and removed after the swap; if the
    swap fails, it is moved back, so ``target`` is never left missing or half-written.
    """
    tmp, target = Path(tmp), Path(target)
    if not target.exists():
        os.replace(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.replace(target, old / "previous")
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(old / "previous", target)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n")


def atomic_write_jsonl(path: str | os.PathLike[str], records: Iterable[Any]) -> int:
    """Write one JSON object per line, atomically; return the number of records."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, default=_json_default) + "\n")
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    return count


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL file; a bad line raises ``ValueError`` naming the file and line number."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{path}:{lineno}: invalid JSON ({exc.msg}); fix or remove that line"
                ) from exc
    return records


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file with an error that names the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def stable_hash(data: Any, length: int = 16) -> str:
    """Short SHA-256 of the canonical JSON form of ``data``."""
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False, default=_json_default)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def file_hash(path: str | os.PathLike[str], length: int = 16) -> str:
    """Short SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (missing packages are left out)."""
    versions = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


class RunDirLocked(CommandError):
    """Another process holds the run directory (the CLI prints it as one line)."""


@dataclass(frozen=True)
class Step:
    """What one step reads and writes: the declaration behind its fingerprint and its skip rule.

    ``config`` holds the settings whose values change the step's output, by dotted key
    (``{"sft.learning_rate": 0.0002}``; see :func:`config_slice`); ``inputs`` the files and
    directories it reads and ``outputs`` those it writes: names relative to the run dir
    (``NAMES.chunks``) or absolute paths (a corpus, a training output directory elsewhere).
    The fingerprint is the hash of ``config`` and of the inputs' contents, so a changed upstream
    output reruns every step that reads it. ``opaque`` marks a run the config does not describe
    (a live object passed in place of a configured model, as tests do): it always runs and its
    record never counts as done.
    """

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    opaque: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(str(p) for p in self.inputs))
        object.__setattr__(self, "outputs", tuple(str(p) for p in self.outputs))


def config_slice(config: Any, *keys: str) -> dict[str, Any]:
    """The values of dotted ``keys`` in ``config`` (a dataclass or nested mapping), by key.

    >>> config_slice({"seed": 0, "sft": {"learning_rate": 0.001, "batch_size": 4}}, "seed", "sft.batch_size")
    {'seed': 0, 'sft.batch_size': 4}
    """
    data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    out = {}
    for key in keys:
        value = data
        for part in key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise KeyError(f"config has no key {key!r}")
            value = value[part]
        out[key] = value
    return out


#: Files modified more recently than this are hashed again on every look (see :class:`_HashCache`).
_RACY_NS = 2_000_000_000


class _HashCache:
    """Content hashes of files, reused while a file keeps its size, inode and modification time.

    A file modified less than :data:`_RACY_NS` ago is always hashed again: a rewrite within one
    timestamp tick could otherwise keep every key of the cache entry.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = read_json(path) if path.is_file() else {}
        self.changed = False

    def tree(self, path: Path) -> str:
        """Hash of a file, or of a directory's files (names and contents; hidden names skipped)."""
        if path.is_file():
            return self._file(path)
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        return stable_hash([[p.relative_to(path).as_posix(), self._file(p)] for p in files])

    def _file(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        signature = [stat.st_size, stat.st_ino, stat.st_mtime_ns]
        entry = self.entries.get(key)
        if entry is not None and entry[:3] == signature:
            return entry[3]
        digest = file_hash(path)
        if time.time_ns() - stat.st_mtime_ns > _RACY_NS:
            self.entries[key] = [*signature, digest]
            self.changed = True
        return digest

    def save(self) -> None:
        """Write the cache when it learnt something."""
        if self.changed:
            atomic_write_json(self.path, self.entries)
            self.changed = False


class RunDir:
    """A run directory held under an exclusive lock, with its manifest.

    Every step follows one rule for "already done" (:meth:`done`): its manifest record carries
    the fingerprint of the :class:`Step` declared now and says ``done``, and every declared
    output exists. Use as a context manager::

        with RunDir("runs/demo") as run:
            step = Step("chunk", config={"datagen.chunking": {...}}, inputs=[corpus], outputs=["chunks.jsonl"])
            if run.done(step) is None:
                with run.step(step) as record:
                    ...
                    record.counts["chunks"] = 120
    """

    def __init__(self, path: str | os.PathLike[str], lock_timeout: float = 0.0) -> None:
        self.path = Path(path)
        self.paths = RunPaths(self.path)
        self._lock = FileLock(str(self.paths.lock), timeout=lock_timeout)
        self._hashes = _HashCache(self.paths.hash_cache)
        self.manifest: dict[str, Any] = {}

    def __enter__(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise RunDirLocked(
                f"{self.path} is in use by another teacherforge process (lock {self.paths.lock}); "
                "wait for it to finish or use another run dir"
            ) from exc
        try:
            manifest = self.load_manifest(self.path)
            recorded = manifest.get("layout_version")
            fresh = {"created_at": utc_now(), "versions": self.versions, "steps": []}
            self.manifest = upgrade_manifest(manifest or fresh, self.path)
        except BaseException:
            self._lock.release()  # a run dir this version cannot open: refused, nothing written
            raise
        self._hashes = _HashCache(self.paths.hash_cache)
        if recorded != LAYOUT_VERSION:  # a new run dir, or one from before layout versions
            self.save_manifest()
        self.manifest.setdefault("steps", [])
        return self

    @functools.cached_property
    def versions(self) -> dict[str, str]:
        """The tracked package versions, looked up once per run-dir session (when first written)."""
        return package_versions()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def file(self, name: str) -> Path:
        """Path of an artifact inside the run dir."""
        return self.path / name

    @staticmethod
    def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
        """The manifest of a run dir, or ``{}`` if it has none yet."""
        manifest = RunPaths(path).manifest
        return read_json(manifest) if manifest.exists() else {}

    def save_manifest(self) -> None:
        atomic_write_json(self.paths.manifest, self.manifest)

    def set(self, key: str, value: Any) -> None:
        """Set a top-level manifest entry (e.g. model identities) and save."""
        self.manifest[key] = value
        self.save_manifest()

    def record(self, name: str) -> dict[str, Any] | None:
        """The manifest record of step ``name`` (``None`` when it never started)."""
        return step_record(self.manifest, name)

    def fingerprint(self, step: Step) -> tuple[str, dict[str, str]]:
        """``(fingerprint, {input: content hash})`` of ``step`` as its inputs are now.

        Raises ``FileNotFoundError`` naming the first missing input (nothing is written).
        """
        hashes = {}
        for name in step.inputs:
            path = self.file(name)
            if not path.exists():
                raise FileNotFoundError(
                    f"{path}: input of step {step.name!r} not found; run the stage that writes it first "
                    "(`teacherforge run` runs the stages in order)"
                )
            hashes[self._label(path)] = self._hashes.tree(path)
        if self._lock.is_locked:  # only the process holding the run dir writes in it
            self._hashes.save()
        return stable_hash({"config": step.config, "inputs": hashes}), hashes

    def _label(self, path: Path) -> str:
        """``path`` relative to the run dir when inside it (a moved run dir keeps its fingerprints)."""
        try:
            return path.resolve().relative_to(self.path.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    def done(self, step: Step) -> dict[str, Any] | None:
        """The record of ``step`` when its work is already done, else ``None``.

        Done means: the record says ``done``, its fingerprint equals the one of ``step`` now
        (same settings, same input contents) and every declared output exists.
        """
        fingerprint, _ = self.fingerprint(step)
        record = self.record(step.name)
        if step.opaque or record is None or record.get("status") != "done":
            return None
        if record.get("fingerprint") != fingerprint:
            return None
        return record if all(self.file(o).exists() for o in step.outputs) else None

    def unfinished(self, step: Step) -> bool:
        """Whether ``step`` started with the same fingerprint and did not finish (killed, failed or
        interrupted): a training step then resumes from its last checkpoint."""
        record = self.record(step.name)
        return (
            not step.opaque
            and record is not None
            and record.get("status") != "done"
            and record.get("fingerprint") == self.fingerprint(step)[0]
        )

    @contextlib.contextmanager
    def step(self, step: Step) -> Iterator[StepRecord]:
        """Run one step: record it as ``running`` now, and as ``done`` (or the status the body set,
        e.g. ``interrupted``) when the body returns, replacing any earlier record of it.

        The recorded fingerprint is computed when the step finishes, so a step that rewrites
        its own input (quality cleans ``teacher.jsonl`` in place) is done afterwards. A body
        that raises leaves the record ``failed``.
        """
        fingerprint, inputs = self.fingerprint(step)
        record = StepRecord(step.name, dict(step.config), inputs, None if step.opaque else fingerprint)
        self._put(record)
        try:
            yield record
        except BaseException as exc:
            record.status = "failed"
            record.extra["error"] = f"{type(exc).__name__}: {exc}"[:500]
            self._put(record)
            raise
        if record.status == "running":
            record.status = "done"
        if not step.opaque:
            record.fingerprint, record.inputs = self.fingerprint(step)
        record.finished_at = utc_now()
        self._put(record)

    def _put(self, record: StepRecord) -> None:
        self.manifest["steps"] = [s for s in self.manifest["steps"] if s["name"] != record.name]
        self.manifest["steps"].append(record.to_json())
        self.manifest["versions"] = self.versions
        self.save_manifest()


def skipped_summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a stage returns when its step is already done: the summary the step stored
    (``record["summary"]``), marked ``status: skipped``; prints one line saying so."""
    print(
        f"teacherforge {record['name']}: up to date (fingerprint {record['fingerprint']}, finished "
        f"{record['finished_at']}); skipped. Change a setting it reads or delete its outputs to rerun it."
    )
    return {**(record.get("summary") or {}), "status": "skipped"}


def step_record(manifest: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The record of step ``name`` in a loaded ``manifest`` (``None`` when absent)."""
    return next((s for s in manifest.get("steps", []) if s["name"] == name), None)


class StepRecord:
    """What one step did: the config it read, its inputs' hashes, outputs, counts (mutable while it runs)."""

    def __init__(
        self, name: str, config: dict[str, Any], inputs: dict[str, str], fingerprint: str | None
    ) -> None:
        self.name = name
        self.config = config
        self.inputs = inputs
        self.fingerprint = fingerprint
        self.status = "running"
        self.outputs: dict[str, str] = {}
        self.counts: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.started_at = utc_now()
        self.finished_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "fingerprint": self.fingerprint,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "config": self.config,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "counts": self.counts,
            **self.extra,
        }

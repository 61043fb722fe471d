"""CachedBackend: hits never reach the backend, samples are separate entries, one writer."""

from __future__ import annotations

import doctest
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import teacherforge.llm.cache
from teacherforge.config import ConfigError, LLMConfig
from teacherforge.llm import CachedBackend, CacheLocked, FakeBackend, build_backend
from teacherforge.types import GenerationParams, messages

REPO = Path(__file__).resolve().parents[2]


def echo(prompt, i):
    text = prompt if isinstance(prompt, str) else prompt[-1].content
    return f"{text} sample {i}"


def test_doctests_pass() -> None:
    result = doctest.testmod(teacherforge.llm.cache)
    assert result.failed == 0 and result.attempted > 0


def test_second_identical_call_is_a_hit_and_does_not_reach_the_backend(tmp_path: Path) -> None:
    fake = FakeBackend(echo)
    cached = CachedBackend(fake, tmp_path / "cache.sqlite")
    prompts = ["a b", messages(("user", "c d e"))]
    first = cached.generate(prompts, GenerationParams())
    assert fake.generate_calls == 1 and cached.misses == 2 and cached.hits == 0
    assert not any(c.cached for c in first)
    assert cached.usage == {"prompt_tokens": 2 + 3, "completion_tokens": 4 + 5}

    second = cached.generate(prompts, GenerationParams())
    assert fake.generate_calls == 1 and len(fake.calls) == 2  # nothing new reached the backend
    assert cached.hits == 2 and cached.misses == 2
    assert [c.text for c in second] == [c.text for c in first] == ["a b sample 0", "c d e sample 0"]
    assert all(c.cached for c in second)
    assert second[0].completion_token_ids == first[0].completion_token_ids
    assert cached.usage["completion_tokens"] == 9  # hits cost nothing

    # a different parameter (temperature) is a different entry
    cached.generate(prompts[:1], GenerationParams(temperature=0.7))
    assert fake.generate_calls == 2 and cached.misses == 3


def test_n_samples_are_separate_entries_and_smaller_n_reuses_them(tmp_path: Path) -> None:
    fake = FakeBackend(echo)
    cached = CachedBackend(fake, tmp_path / "cache.sqlite")
    params = GenerationParams(temperature=1.0, n=4, seed=3)
    out = cached.generate(["q"], params)
    assert [c.text for c in out] == [f"q sample {i}" for i in range(4)]
    assert len(cached) == 4

    two = cached.generate(["q"], GenerationParams(temperature=1.0, n=2, seed=3))
    assert [c.text for c in two] == ["q sample 0", "q sample 1"] and all(c.cached for c in two)
    assert fake.generate_calls == 1

    six = cached.generate(["q"], GenerationParams(temperature=1.0, n=6, seed=3))
    assert [c.text for c in six] == [f"q sample {i}" for i in range(6)]
    assert [c.cached for c in six] == [True] * 4 + [False] * 2
    assert len(cached) == 6 and cached.misses == 6 and fake.generate_calls == 2


def test_changed_identity_misses(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    base = CachedBackend(FakeBackend(["base answer"], identity="transformers:m:float32:aaaa"), path)
    base.generate(["q"], GenerationParams())
    tuned_fake = FakeBackend(["tuned answer"], identity="transformers:m:float32:bbbb")
    tuned = CachedBackend(tuned_fake, path)
    (c,) = tuned.generate(["q"], GenerationParams())
    assert c.text == "tuned answer" and not c.cached and tuned_fake.generate_calls == 1


def test_only_misses_reach_the_backend_in_one_batch(tmp_path: Path) -> None:
    fake = FakeBackend(echo)
    cached = CachedBackend(fake, tmp_path / "cache.sqlite")
    cached.generate(["a", "c"], GenerationParams())
    out = cached.generate(["a", "b", "c", "d"], GenerationParams())
    assert fake.calls[2:] == ["b", "d"] and fake.generate_calls == 2
    assert [c.text for c in out] == [f"{p} sample 0" for p in "abcd"]


def test_each_chunk_is_committed_before_the_next(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"

    def flaky(prompt, i):
        if prompt == "p4":
            raise RuntimeError("simulated crash")
        return echo(prompt, i)

    prompts = [f"p{i}" for i in range(6)]
    crashing = CachedBackend(FakeBackend(flaky), path, chunk_size=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.generate(prompts, GenerationParams())
    crashing.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 4

    fake = FakeBackend(echo)
    rerun = CachedBackend(fake, path, chunk_size=2)
    out = rerun.generate(prompts, GenerationParams())
    assert fake.calls == ["p4", "p5"] and rerun.hits == 4
    assert [c.text for c in out] == [f"p{i} sample 0" for i in range(6)]


KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    from teacherforge.llm import CachedBackend, FakeBackend
    from teacherforge.types import GenerationParams
    fake = FakeBackend(lambda p, i: "answer to " + p, delay_s=0.2)
    cached = CachedBackend(fake, sys.argv[1], chunk_size=1)
    cached.generate([f"q{i}" for i in range(50)], GenerationParams())
    """
)


def _count(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=5) as db:
            return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_killed_writer_keeps_finished_entries_and_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while _count(path) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    done = _count(path)
    assert 3 <= done < 50
    fake = FakeBackend(lambda p, i: "answer to " + p)
    rerun = CachedBackend(fake, path)  # the dead writer's lock is free
    out = rerun.generate([f"q{i}" for i in range(50)], GenerationParams())
    assert rerun.hits == done and len(fake.calls) == 50 - done
    assert [c.text for c in out] == [f"answer to q{i}" for i in range(50)]


SECOND_WRITER = textwrap.dedent(
    """
    import sys
    from teacherforge.llm import CachedBackend, CacheLocked, FakeBackend
    from teacherforge.types import GenerationParams
    cached = CachedBackend(FakeBackend(["other"]), sys.argv[1])
    hit = cached.generate(["shared"], GenerationParams())  # reading needs no lock
    assert hit[0].cached and hit[0].text == "first", hit
    try:
        cached.generate(["new prompt"], GenerationParams())
    except CacheLocked as exc:
        print("LOCKED:", exc)
        sys.exit(3)
    """
)


def test_second_writer_process_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    writer = CachedBackend(FakeBackend(["first"]), path)
    writer.generate(["shared"], GenerationParams())  # holds the writer lock from now on
    proc = subprocess.run(
        [sys.executable, "-c", SECOND_WRITER, str(path)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3, proc.stderr
    assert "only one process may write" in proc.stdout and "driver" in proc.stdout
    writer.close()
    proc = subprocess.run(
        [sys.executable, "-c", SECOND_WRITER, str(path)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr  # lock released on close


def test_thread_safe_within_a_process(tmp_path: Path) -> None:
    fake = FakeBackend(echo)
    cached = CachedBackend(fake, tmp_path / "cache.sqlite", chunk_size=3)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for rep in range(2):
                out = cached.generate([f"t{t} p{j}" for j in range(7)], GenerationParams(n=2))
                assert [c.text for c in out] == [f"t{t} p{j} sample {i}" for j in range(7) for i in range(2)]
                assert all(c.cached for c in out) == (rep == 1)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert len(cached) == 4 * 7 * 2 and cached.misses == 56 and cached.hits == 56


def test_custom_backend_loads_a_factory_and_wraps_it_in_the_cache(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "scripted_llm.py").write_text(
        "from teacherforge.llm import FakeBackend\n"
        "def make():\n    return FakeBackend(['scripted'], identity='fake:scripted')\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = LLMConfig(backend="custom", model="scripted_llm:make")
    plain = build_backend(cfg)
    assert isinstance(plain, FakeBackend) and plain.identity == "fake:scripted"
    cached = build_backend(cfg, cache_path=tmp_path / "cache.sqlite")
    assert isinstance(cached, CachedBackend) and cached.identity == "fake:scripted"
    assert cached.generate(["x"], GenerationParams())[0].text == "scripted"
    uncached = build_backend(
        LLMConfig(backend="custom", model="scripted_llm:make", use_cache=False), tmp_path / "c2"
    )
    assert isinstance(uncached, FakeBackend)
    with pytest.raises(ValueError, match=r"pkg\.module:factory"):
        build_backend(LLMConfig(backend="custom", model="no_colon"))
    with pytest.raises(ValueError, match="cannot import"):
        build_backend(LLMConfig(backend="custom", model="scripted_llm:missing"))


def test_the_scripted_double_is_no_backend_choice() -> None:
    with pytest.raises(ConfigError, match=r"llm\.backend.*'fake'.*custom"):
        LLMConfig(backend="fake", model="scripted_llm:make")


def test_live_backend_is_refused(tmp_path: Path) -> None:
    live = FakeBackend(["x"], identity="transformers:live:uncacheable:Policy@1")
    with pytest.raises(ValueError, match="live model"):
        CachedBackend(live, tmp_path / "cache.sqlite")


def test_cache_locked_is_exported() -> None:
    assert issubclass(CacheLocked, RuntimeError)

"""The GRPO ``rollout_func``: search-environment episodes for TRL's ``GRPOTrainer``.

:class:`EnvRollout` is called by TRL once per generation batch with this process's prompts
of that batch (each question already repeated ``num_generations`` times in a row, so it
returns exactly one episode per prompt it receives). It runs the batched
:class:`~teacherforge.envs.driver.RolloutDriver` against the live policy (wrapped in a
:class:`~teacherforge.llm.TransformersBackend`, or a vLLM colocate engine) with the
``num_generations`` copies of a question as one group, so the rubric scores every episode
once, per group (per-group components see the whole group), and returns what TRL needs:

- ``prompt_ids`` / ``completion_ids``: the chat-templated question and everything after it
  (model turns and the environment's ``<information>`` blocks, interleaved);
- ``env_mask``: 1 on model-written tokens, 0 on environment-inserted ones (TRL multiplies it
  into the loss mask, so the policy is never trained to write retrieved text);
- ``logprobs``: the sampling log-probabilities where the backend gives them (TRL only needs
  them for vLLM importance-sampling correction), else ``None``;
- ``reward_breakdown``: each episode's rubric breakdown, which the rubric's TRL reward
  functions return as they are (:mod:`teacherforge.rewards.trl`), so no reward runs twice;
- ``trajectories``: one ``Trajectory.to_json()`` per episode, for extra reward functions
  (:func:`~teacherforge.rewards.trl.to_trl_reward`).

Whole groups per process: TRL's ``RepeatSampler`` lays a generation batch out as runs of
``num_generations`` copies, and each process takes consecutive slices of
``per_device_train_batch_size × steps_per_generation`` rows; the GRPO stage sets that to
``grpo.batch_size``, a multiple of ``num_generations``, so no group spans two processes
(``tests/trainers/test_grpo_groups.py`` checks the layout with TRL's and Accelerate's own
samplers); :class:`EnvRollout` refuses prompts that do not form whole groups.

It also records per-step rollout statistics (retrieval hit rate, searches per episode,
answer length, well-formed share, reward-hacking diagnostics, a time breakdown) through the
trainer's ``_log_metric`` hook, so they reach W&B and ``grpo_log.jsonl`` with TRL's own
metrics, and keeps a sample of full trajectories for the trajectories log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from teacherforge.rewards import Trajectory, retrieved_gold, search_steps
from teacherforge.rewards.diagnostics import flatten_diagnostics, hacking_diagnostics
from teacherforge.rewards.rubric import ERROR_PREFIX
from teacherforge.rewards.trl import BREAKDOWN_KEY, TRAJECTORIES_KEY
from teacherforge.types import Completion, GenerationParams, Prompt

#: Field of the rollout output (and reward-function kwarg) holding ``Trajectory.to_json()``.
TRAJECTORY_FIELD = TRAJECTORIES_KEY
#: Prefix of the rollout metrics in TRL's logs.
METRIC_PREFIX = "env/"


class Stopwatch:
    """Accumulates wall-clock seconds per named phase.

    >>> sw = Stopwatch()
    >>> with sw.time("x"):
    ...     pass
    >>> sorted(sw.seconds)
    ['x']
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        """Add the time spent inside the block to ``seconds[name]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def reset(self) -> dict[str, float]:
        """Return the accumulated seconds and start again."""
        out, self.seconds = self.seconds, {}
        return out


class TimedBackend:
    """An LLM backend proxy that times ``generate`` into a :class:`Stopwatch` (phase ``generation``)."""

    def __init__(self, backend: Any, watch: Stopwatch) -> None:
        self.backend = backend
        self.watch = watch
        self.identity = getattr(backend, "identity", "timed")

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        """Delegate to the wrapped backend, timing the call."""
        with self.watch.time("generation"):
            return self.backend.generate(prompts, params)

    def __getattr__(self, name: str) -> Any:
        if name in ("backend", "watch"):  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.backend, name)


class TimedRetriever:
    """A retriever proxy that times ``search`` (phase ``retrieval``); everything else passes through."""

    def __init__(self, retriever: Any, watch: Stopwatch) -> None:
        self.retriever = retriever
        self.watch = watch

    def search(self, queries: list[str], k: int) -> Any:
        """Delegate to the wrapped retriever, timing the call."""
        with self.watch.time("retrieval"):
            return self.retriever.search(queries, k)

    def __getattr__(self, name: str) -> Any:
        if name in ("retriever", "watch"):  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.retriever, name)


class TimedRubric:
    """A rubric proxy that times group scoring (phase ``reward``); attributes pass through."""

    def __init__(self, rubric: Any, watch: Stopwatch) -> None:
        self.rubric = rubric
        self.watch = watch

    def score_group(self, trajs: Sequence[Trajectory]) -> Any:
        """Delegate to the wrapped rubric, timing the call."""
        with self.watch.time("reward"):
            return self.rubric.score_group(trajs)

    def __getattr__(self, name: str) -> Any:
        if name in ("rubric", "watch"):  # not set yet (copy/pickle): no recursion
            raise AttributeError(name)
        return getattr(self.rubric, name)


def episode_stats(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Batch statistics of finished episodes: the rollout metrics logged every GRPO step.

    ``retrieval_hit_rate``: share of episodes that retrieved a gold chunk at any turn;
    ``searches_per_episode``: mean number of search queries; ``answer_length``: mean words in
    the final answer (0 without one); ``well_formed``: share that ended with an answer and had
    no malformed turn; ``answered``: share with a final answer.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> t = Trajectory("q", "a", ("c1",), turns=(Turn("s", query="q", retrieved=(RetrievedRef("c1", 1, 1.0),)),),
    ...                final_answer="two words")
    >>> episode_stats([t, Trajectory("q", "a", ("c1",))])["retrieval_hit_rate"]
    0.5
    """
    n = max(len(trajectories), 1)
    hits = sum(retrieved_gold(t) for t in trajectories)
    return {
        "retrieval_hit_rate": hits / n,
        "searches_per_episode": sum(len(t.queries) for t in trajectories) / n,
        "answer_length": sum(len((t.final_answer or "").split()) for t in trajectories) / n,
        "answered": sum(t.final_answer is not None for t in trajectories) / n,
        "well_formed": sum(t.well_formed for t in trajectories) / n,
    }


def search_step_stats(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Step-wise search rewards by search number (:func:`teacherforge.rewards.search_steps`): the mean
    information gain and redundancy of the ``t``-th search over the episodes that made one, logged as
    ``stepwise/search<t>/info_gain`` and ``stepwise/search<t>/redundancy`` whichever rubric trains.

    >>> from teacherforge.rewards import RetrievedRef, Turn
    >>> hit = Turn("s", query="pump", retrieved=(RetrievedRef("g", 1, 1.0),))
    >>> search_step_stats([Trajectory("q", "a", ("g",), turns=(hit, hit)), Trajectory("q", "a", ("g",))])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'stepwise/search1/info_gain': 1.0, 'stepwise/search1/redundancy': 0.0,
     'stepwise/search2/info_gain': 0.0, 'stepwise/search2/redundancy': 1.0}
    """
    by_number: dict[int, list[Any]] = {}
    for traj in trajectories:
        for number, step in enumerate(search_steps(traj), 1):
            by_number.setdefault(number, []).append(step)
    stats: dict[str, float] = {}
    for number, steps in sorted(by_number.items()):
        stats[f"stepwise/search{number}/info_gain"] = sum(s.info_gain for s in steps) / len(steps)
        stats[f"stepwise/search{number}/redundancy"] = sum(s.redundancy for s in steps) / len(steps)
    return stats


def judge_stats(rubric: Any) -> dict[str, float]:
    """Running counters of the rubric's components that keep them (``fn.stats``: the group judge's
    calls, cache hits, fallbacks and partial replies), as ``judge/<component>/<counter>``."""
    return {
        f"judge/{name}/{key}": float(value)
        for name, fn in getattr(rubric, "rewards", {}).items()
        for key, value in (getattr(fn, "stats", None) or {}).items()
    }


def reward_error_rates(episodes: Sequence[Any]) -> dict[str, float]:
    """Per reward component that failed on some episode, the share of ``episodes`` it failed on
    (the rubric marks a failure as ``reward_errors/<name>`` in the breakdown)."""
    counts: dict[str, int] = {}
    for episode in episodes:
        for key in episode.reward_breakdown:
            if key.startswith(ERROR_PREFIX):
                name = key[len(ERROR_PREFIX) :]
                counts[name] = counts.get(name, 0) + 1
    return {name: count / max(len(episodes), 1) for name, count in sorted(counts.items())}


def flat_diagnostics(episodes: Sequence[Any]) -> dict[str, float]:
    """The rewards library's reward-hacking diagnostics of a batch of episodes, flattened.

    Keys look like ``hacking/overall/answer_length/mean`` or
    ``hacking/components/f1/corr/search_count`` (see :mod:`teacherforge.rewards.diagnostics`).
    """
    report = hacking_diagnostics([e.trajectory for e in episodes], [e.reward_breakdown for e in episodes])
    return flatten_diagnostics(report)


def rollout_output(episodes: Sequence[Any], eos_token_id: int | None = None) -> dict[str, list]:
    """TRL's rollout dict for finished episodes (see the module docstring).

    An episode that ended with an answer gets ``eos_token_id`` appended (model token, mask 1,
    logprob ``None`` = unknown, which TRL neutralises in importance sampling): generation
    stopped at the closing answer tag, and the policy should learn to end its message there
    — it also lets TRL tell finished episodes from truncated ones.
    """
    prompt_ids, completion_ids, masks, logprobs = [], [], [], []
    for e in episodes:
        ids, mask = list(e.completion_ids), list(e.env_mask)
        lps: list[float | None] | None = list(e.logprobs) if e.logprobs is not None else None
        if (
            eos_token_id is not None
            and e.trajectory.final_answer is not None
            and (not ids or ids[-1] != eos_token_id)
        ):
            ids.append(eos_token_id)
            mask.append(1)
            if lps is not None:
                lps.append(None)
        prompt_ids.append(list(e.prompt_ids))
        completion_ids.append(ids)
        masks.append(mask)
        logprobs.append(lps)
    return {
        "prompt_ids": prompt_ids,
        "completion_ids": completion_ids,
        "env_mask": masks,
        "logprobs": logprobs if all(lp is not None for lp in logprobs) else None,
        BREAKDOWN_KEY: [dict(e.reward_breakdown) for e in episodes],
        TRAJECTORY_FIELD: [e.trajectory.to_json() for e in episodes],
    }


BackendFactory = Callable[[Any], contextlib.AbstractContextManager]


@contextlib.contextmanager
def live_policy_backend(trainer: Any) -> Iterator[Any]:
    """The default rollout backend: the trainer's live policy behind a ``TransformersBackend``.

    Uses TRL's ``unwrap_model_for_generation`` (as TRL's own generation does), so DeepSpeed
    ZeRO-3 parameters are gathered and gradient checkpointing is off while sampling. With
    ``use_vllm`` the colocated vLLM engine TRL keeps in sync with the policy is used instead.
    """
    if getattr(trainer, "use_vllm", False):
        from teacherforge.trainers.grpo_vllm import VLLMColocateBackend

        yield VLLMColocateBackend(trainer)
        return
    from trl.models.utils import unwrap_model_for_generation

    from teacherforge.llm import TransformersBackend

    with unwrap_model_for_generation(
        trainer.model_wrapped,
        trainer.accelerator,
        gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
        gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs,
    ) as model:
        yield TransformersBackend(model, trainer.processing_class)


class EnvRollout:
    """TRL ``rollout_func`` running search-environment episodes (see the module docstring).

    Args:
        driver: a :class:`~teacherforge.envs.driver.RolloutDriver` over the training task
            (its retriever and rubric wrapped in :class:`TimedRetriever` and
            :class:`TimedRubric` sharing ``watch``); its questions are the training prompts.
        params: generation parameters of one turn; the seed and ``n`` are set per step.
        group_size: ``num_generations``: consecutive copies of a question form one group.
        seed: base seed; step ``s`` samples with ``seed + s`` so a resumed run samples alike.
        watch: the stopwatch the proxies write to.
        trajectories_per_step: how many full trajectories to keep per step for the log.
        backend_factory: ``trainer -> context manager yielding a backend`` (default
            :func:`live_policy_backend`; tests pass a scripted one).
    """

    def __init__(
        self,
        driver: Any,
        params: GenerationParams,
        *,
        group_size: int,
        seed: int,
        watch: Stopwatch,
        trajectories_per_step: int = 4,
        backend_factory: BackendFactory | None = None,
        curriculum: Any = None,
    ) -> None:
        self.driver = driver
        self.curriculum = curriculum  # a NoisyRetriever under the task's retriever (env.noise), or None
        self.questions: dict[str, Any] = {}
        for q in driver.task.questions:
            self.questions.setdefault(q.question, q)
        self.params = params
        self.group_size = group_size
        self.seed = seed
        self.watch = watch
        self.trajectories_per_step = trajectories_per_step
        self.backend_factory = backend_factory or live_policy_backend
        self.sampled: list[dict] = []  # trajectories kept from the latest rollout
        self.last_question_ids: list[str] = []
        self.last_stats: dict[str, float] = {}
        self.last_error_rates: dict[str, float] = {}

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list]:
        """Run one episode per prompt (a group per question) and return TRL's rollout dict."""
        records = self._group_questions(prompts)
        step = int(trainer.state.global_step)
        params = dataclasses.replace(self.params, seed=self.seed + step, n=self.group_size)
        self.watch.reset()
        if self.curriculum is not None:  # the step comes from the trainer's state, so a resume continues it
            self.curriculum.set_step(step)
        started = time.perf_counter()
        with self.backend_factory(trainer) as backend:
            episodes = self.driver.run(TimedBackend(backend, self.watch), records, params)
        rollout_s = time.perf_counter() - started
        if len(episodes) != len(prompts):
            raise RuntimeError(f"rollout driver returned {len(episodes)} episodes for {len(prompts)} prompts")
        timings = self.watch.reset()
        trajectories = [e.trajectory for e in episodes]
        tokens = sum(len(e.prompt_ids) + len(e.completion_ids) for e in episodes)
        model_tokens = sum(sum(e.env_mask) for e in episodes)
        stats = {
            **episode_stats(trajectories),
            "rollout_s": rollout_s,
            "generation_s": timings.get("generation", 0.0),
            "retrieval_s": timings.get("retrieval", 0.0),
            "reward_s": timings.get("reward", 0.0),
            "rollout_tokens": float(tokens),
            "model_tokens": float(model_tokens),
            "env_tokens": float(sum(len(e.completion_ids) for e in episodes) - model_tokens),
        }
        stats.update(search_step_stats(trajectories))
        stats.update(judge_stats(self.driver.task.rubric))
        if self.curriculum is not None:
            stats.update(self.curriculum.stats())
        stats.update(flat_diagnostics(episodes))
        self.last_error_rates = reward_error_rates(episodes)
        stats.update({f"reward_error_rate/{name}": rate for name, rate in self.last_error_rates.items()})
        self.last_stats = stats
        self.last_question_ids = [str(r.id) for r in records for _ in range(self.group_size)]
        log_metric = getattr(trainer, "_log_metric", None)
        if log_metric is not None:
            for name, value in stats.items():
                log_metric(f"{METRIC_PREFIX}{name}", value)
        self.sampled = self._sample(episodes, step)
        eos = getattr(getattr(trainer, "processing_class", None), "eos_token_id", None)
        return rollout_output(episodes, eos)

    def _group_questions(self, prompts: Sequence[Any]) -> list[Any]:
        """The question of each group of ``group_size`` consecutive, identical prompts."""
        n = self.group_size
        groups = [list(prompts[i : i + n]) for i in range(0, len(prompts), n)]
        if any(len(g) != n or any(p != g[0] for p in g) for g in groups):
            raise RuntimeError(
                f"rollout got {len(prompts)} prompts that are not whole groups of {n} identical prompts; "
                "each process must receive whole groups (keep the per-process generation batch, "
                "grpo.batch_size, a multiple of grpo.num_generations)"
            )
        return [self._record(g[0]) for g in groups]

    def _record(self, prompt: Any) -> Any:
        key = prompt if isinstance(prompt, str) else str(prompt)
        try:
            return self.questions[key]
        except KeyError:
            raise KeyError(f"rollout got a prompt that is not a training question: {key[:80]!r}") from None

    def _sample(self, episodes: Sequence[Any], step: int) -> list[dict]:
        if self.trajectories_per_step <= 0:
            return []
        rng = random.Random(self.seed * 1_000_003 + step)
        chosen = sorted(rng.sample(range(len(episodes)), min(self.trajectories_per_step, len(episodes))))
        out = []
        for i in chosen:
            ep = episodes[i]
            meta = {
                **dict(ep.trajectory.metadata),
                "reward_total": ep.reward,
                "reward_breakdown": dict(ep.reward_breakdown),
                "step": step + 1,
                "group_index": i,
            }
            out.append(dataclasses.replace(ep.trajectory, metadata=meta).to_json())
        return out

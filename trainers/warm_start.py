"""Cold-start fix for GRPO: SFT on synthetic search episodes before RL.

A small model does not follow the search protocol from the prompt alone, so every GRPO reward
is 0 and there is no gradient. The warm start teaches the format first. For training
questions of ``questions.json`` it builds episodes in the exact GRPO layout by running the
real :class:`~teacherforge.envs.driver.RolloutDriver` with a scripted policy
(:class:`ScriptedSearchPolicy`): turn 1 thinks briefly and searches with a query derived from
the question (:func:`derive_query`), the environment inserts the REAL ``<information>`` block
its retriever returns, turn 2 thinks and answers with the gold answer. Episodes whose search
retrieved a gold chunk are preferred, so the answer is grounded in the information shown.
With ``env.protocol: tools`` the search is a native tool call and the answer plain text, as
the model's chat template renders them, and the environment's replies are ``tool`` messages.

Each episode becomes a token-level training row built exactly like a GRPO rollout
(:func:`teacherforge.trainers.grpo_rollout.rollout_output`): the prompt ids, then model turns
and environment blocks interleaved, with the loss mask set on model-written tokens only — the
``<information>`` text is never a training target, and the model is trained on the very
token ids (and the closing EOS) that it will produce at rollout time. Examples longer than
``grpo.warm_start_max_length`` tokens, or with a model turn longer than the per-turn budget
``env.max_new_tokens``, would be cut before their answer: they are dropped and counted
(``warm_start_max_length: 0`` sizes the length to the longest example).

The share of well-formed episodes (ended with an answer, no malformed turn), searches, gold
hits and answer F1 on held-out questions (validation split) are measured with greedy
decoding before and after, and written to ``<grpo output>/warm_start/warm_start.json``
(a rerun reuses a finished warm start: the ``grpo_warm_start`` step of the run dir).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from teacherforge.rewards import retrieved_gold
from teacherforge.types import Completion, GenerationParams, Prompt

log = logging.getLogger(__name__)

#: Generic English function words dropped from derived queries (no corpus vocabulary).
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "did",
        "do",
        "does",
        "has",
        "have",
        "had",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "according",
        "than",
        "as",
        "into",
        "about",
        "fills",
        "blank",
    ]
)
#: At most this many words in a derived query (a turn must fit the per-turn token budget).
MAX_QUERY_WORDS = 10
_THINK_SEARCH = ("I should search.", "Let me search.", "I need to look this up.")
_THINK_ANSWER = ("Found it.", "The passage says.", "I have the answer.")
_QUOTED = re.compile(r'"([^"]{8,})"')
_BLANK = re.compile(r"_{2,}")


def derive_query(question: str, variant: int = 0) -> str:
    """A search query from a question: its content words (variant 0) or the plain question (1).

    A quoted passage in the question (as in fill-in-the-blank questions) is the query's source;
    blanks are dropped; at most :data:`MAX_QUERY_WORDS` words are kept.

    >>> derive_query("What was the boiler pressure during the 1998 test?")
    'boiler pressure during 1998 test'
    >>> derive_query('What number fills the blank? "The pump moved ____ litres of water."')
    'pump moved litres water'
    >>> derive_query("Who commanded it?", variant=1)
    'Who commanded it'
    """
    quoted = _QUOTED.search(question)
    source = quoted.group(1) if quoted else question
    plain = re.sub(r"\s+", " ", _BLANK.sub(" ", source)).strip().rstrip("?!. ")
    if variant % 2 == 1:
        return " ".join(plain.split()[:MAX_QUERY_WORDS])
    words = [w for w in re.findall(r"[\w][\w'’.-]*", plain) if w.lower().strip(".") not in _STOPWORDS]
    return " ".join((words or plain.split())[:MAX_QUERY_WORDS])


class ScriptedSearchPolicy:
    """An :class:`~teacherforge.llm.LLMBackend` that plays one search-then-answer episode per question.

    It recognises the question in the prompt text, searches on the first turn and answers
    (gold answer) once the environment's reply follows the prompt. Token ids are left
    empty, so the driver tokenizes the text with the policy's tokenizer. With ``chat`` (the
    driver's :class:`~teacherforge.envs.tool_calls.ToolChat`, ``env.protocol: tools``) the search
    is a tool call and the answer plain text, both written as the chat template renders them.
    """

    identity = "scripted-search-policy"

    def __init__(
        self, questions: Sequence[Any], prompts: Sequence[str], tags: Any, variant: int = 0, chat: Any = None
    ) -> None:
        self.by_prompt = dict(zip(prompts, questions))
        self.tags = tags
        self.variant = variant
        self.chat = chat

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams) -> list[Completion]:
        """One scripted turn per prompt (``params.n`` copies)."""
        out = []
        for prompt in prompts:
            text = prompt if isinstance(prompt, str) else str(prompt)
            base = next((p for p in self.by_prompt if text.startswith(p)), None)
            if base is None:
                raise KeyError("scripted policy got a prompt it did not build")
            q = self.by_prompt[base]
            v = self.variant + sum(map(ord, q.id))
            t = self.tags
            if text[len(base) :]:  # the environment answered the search
                think, action = _THINK_ANSWER[v % len(_THINK_ANSWER)], "answer"
                body = q.answer
            else:
                body = derive_query(q.question, self.variant)
                think, action = _THINK_SEARCH[v % len(_THINK_SEARCH)].format(topic=body), "search"
            thought = f"{t.open('think')}{think}{t.close('think')}"
            if self.chat is None:
                turn = f"{thought}\n{t.open(action)}{body}{t.close(action)}"
            elif action == "search":
                turn = self.chat.assistant_text(thought, query=body)
            else:
                turn = self.chat.assistant_text(f"{thought}\n{body}")
            out.extend(Completion(text=turn, finish_reason="stop") for _ in range(params.n))
        return out


def synthetic_episodes(driver: Any, questions: Sequence[Any], count: int) -> list[Any]:
    """Up to ``count`` scripted episodes (gold-hit episodes first).

    Questions are run once per query variant (content words, then the plain question) as long
    as fewer than ``count`` gold-hit episodes were found.
    """
    episodes: list[Any] = []
    for variant in range(2):
        if sum(retrieved_gold(e.trajectory) for e in episodes) >= count:
            break
        prompts = [driver.prompt_text(q) for q in questions]
        policy = ScriptedSearchPolicy(questions, prompts, driver.task.tags, variant=variant, chat=driver.chat)
        episodes += driver.run(policy, questions, GenerationParams(max_new_tokens=256, temperature=0.0))
    hit = [e for e in episodes if retrieved_gold(e.trajectory)]
    miss = [e for e in episodes if not retrieved_gold(e.trajectory)]
    return (hit + miss)[:count]


def training_rows(
    episodes: Sequence[Any], eos_token_id: int | None, max_length: int, turn_budget: int
) -> tuple[list[dict], dict[str, int]]:
    """Token-level SFT rows of ``episodes`` in the GRPO rollout layout, and what was dropped.

    A row is ``{"input_ids", "assistant_masks"}``: prompt ids (mask 0), then the completion ids
    of :func:`~teacherforge.trainers.grpo_rollout.rollout_output` with its ``env_mask``
    (model turns 1, ``<information>`` 0) and the closing EOS. Rows longer than ``max_length``
    (``0``: no limit) or with a model turn longer than ``turn_budget`` tokens are dropped and
    counted (``too_long``, ``turn_over_budget``): trained on, they would teach an episode the
    model cannot finish at rollout time.
    """
    from teacherforge.trainers.grpo_rollout import rollout_output

    out = rollout_output(episodes, eos_token_id)
    rows: list[dict] = []
    dropped = {"too_long": 0, "turn_over_budget": 0}
    for prompt, completion, mask in zip(out["prompt_ids"], out["completion_ids"], out["env_mask"]):
        ids, labels = [*prompt, *completion], [0] * len(prompt) + list(mask)
        if max(model_turn_lengths(mask), default=0) > turn_budget + 1:  # + the closing EOS
            dropped["turn_over_budget"] += 1
        elif max_length and len(ids) > max_length:
            dropped["too_long"] += 1
        else:
            rows.append({"input_ids": ids, "assistant_masks": labels})
    return rows, dropped


def model_turn_lengths(env_mask: Sequence[int]) -> list[int]:
    """Lengths of the runs of model-written tokens (mask 1) in an episode's ``env_mask``.

    >>> model_turn_lengths([1, 1, 0, 0, 1, 1, 1])
    [2, 3]
    """
    runs = [len(m) for m in re.findall(r"1+", "".join("1" if bit else "0" for bit in env_mask))]
    return runs


def held_out_stats(model: Any, tokenizer: Any, driver: Any, questions: Sequence[Any]) -> dict[str, float]:
    """Greedy episodes of ``model`` on ``questions``: shares well-formed, searched, answered, gold
    hit (``retrieval_hit_rate``) and the mean answer F1 against the reference."""
    from teacherforge.llm import TransformersBackend
    from teacherforge.trainers.grpo_rollout import episode_stats
    from teacherforge.trainers.metrics import f1_score

    if not questions:
        return {}
    backend = TransformersBackend(model, tokenizer, batch_size=max(len(questions), 1))
    params = GenerationParams(max_new_tokens=driver.task.config.max_new_tokens, temperature=0.0, seed=0)
    episodes = driver.run(backend, questions, params)
    stats = episode_stats([e.trajectory for e in episodes])
    stats["searched"] = sum(bool(e.trajectory.queries) for e in episodes) / len(episodes)
    stats["f1"] = sum(
        f1_score(e.trajectory.final_answer, q.answer) for e, q in zip(episodes, questions)
    ) / len(episodes)
    keep = ("well_formed", "searched", "answered", "retrieval_hit_rate", "f1")
    return {k: round(v, 4) for k, v in stats.items() if k in keep}


def _held_out(config: Any, train: Sequence[Any], n: int) -> list[Any]:
    """Up to ``n`` held-out questions: the validation split (never trained on)."""
    from teacherforge.run import RunLayout

    if n <= 0:
        return []
    try:
        held = RunLayout(config.run_path).questions("validation")[:n]
    except ValueError:
        held = []
    if not held:
        log.warning("warm start: no validation questions; the before/after shares are not measured")
    return held


def warm_start_rows(
    config: Any, questions: Sequence[Any], driver: Any, tokenizer: Any
) -> tuple[list[dict], dict[str, int], list[Any]]:
    """The warm start's token rows for ``questions``, what was dropped, and the scripted episodes.

    Logs the drops; raises ``ValueError`` when every example would be cut before its answer.
    """
    cfg = config.grpo
    episodes = synthetic_episodes(driver, questions, cfg.warm_start_examples)
    rows, dropped = training_rows(
        episodes, tokenizer.eos_token_id, cfg.warm_start_max_length, config.env.max_new_tokens
    )
    if any(dropped.values()):
        log.warning(
            "warm start: dropped %d of %d examples that would be cut before their answer (%s); "
            "raise grpo.warm_start_max_length / env.max_new_tokens or set warm_start_max_length: 0",
            sum(dropped.values()),
            len(episodes),
            ", ".join(f"{k} {v}" for k, v in dropped.items() if v),
        )
    if not rows:
        raise ValueError(
            f"grpo.warm_start_max_length: all {len(episodes)} warm-start examples would be cut before "
            f"their answer ({dropped}); raise it or set it to 0 (size to the longest example)"
        )
    return rows, dropped, episodes


def train_warm_start(
    config: Any,
    model: Any,
    tokenizer: Any,
    rows: list[dict],
    out: Path,
    *,
    steps: int | None = None,
    save_steps: int | None = None,
    report_to: str | list[str] = "none",
    callbacks: list[Any] | None = None,
) -> Any:
    """LoRA SFT on the warm start's token rows (``grpo.warm_start_*`` settings; ``steps`` overrides;
    ``callbacks``: extra trainer callbacks, e.g. the MLflow logger)."""
    from teacherforge.trainers.sft_common import train_sft

    cfg = config.grpo
    steps = steps or cfg.warm_start_steps
    return train_sft(
        model,
        rows,
        out,
        lora=cfg.lora,
        learning_rate=cfg.warm_start_learning_rate,
        batch_size=cfg.warm_start_batch_size,
        max_steps=steps,
        max_length=max(len(r["input_ids"]) for r in rows),
        save_steps=save_steps or max(steps, 1),
        seed=config.seed,
        tokenizer=tokenizer,
        report_to=report_to,
        callbacks=callbacks,
    )


def run_warm_start(config: Any, plan: Any) -> dict[str, Any]:
    """Build synthetic episodes, SFT a LoRA adapter on them, report held-out shares before/after.

    Returns ``{"adapter", "examples", "dropped", "steps", "well_formed_before", "well_formed_after",
    "before", "after", ...}`` and writes it to ``<output>/warm_start/warm_start.json``
    (:func:`teacherforge.trainers.grpo.run_grpo` reuses a finished one: the ``grpo_warm_start``
    step). Raises ``ValueError`` when every example would be cut before its answer.
    """
    import time

    from teacherforge.envs.driver import RolloutDriver
    from teacherforge.envs.task import build_task
    from teacherforge.models import load_causal_lm
    from teacherforge.run import TrainingDir
    from teacherforge.trainers.tracking import ending_runs, mlflow_logger, report_targets
    from teacherforge.workspace import atomic_write_json

    cfg = config.grpo
    tracker = mlflow_logger(config, "grpo", run="grpo_warm_start")  # an unusable store fails first
    grpo_out = TrainingDir(Path(plan.output_dir))
    out, summary_path = grpo_out.warm_start.path, grpo_out.warm_start_summary
    started = time.perf_counter()
    model, tokenizer = load_causal_lm(cfg.model)
    task = build_task(config, plan.run_dir, questions=plan.questions, rubric=plan.rubric)
    driver = RolloutDriver(task, tokenizer=tokenizer)
    held = _held_out(config, plan.questions, cfg.warm_start_eval_questions)
    rows, dropped, episodes = warm_start_rows(config, plan.questions, driver, tokenizer)
    before = held_out_stats(model, tokenizer, driver, held)
    with ending_runs(tracker):
        result = train_warm_start(
            config,
            model,
            tokenizer,
            rows,
            out,
            report_to=report_targets(cfg.report_to, plan.output_dir),
            callbacks=[tracker] if tracker else None,
        )
    trained, trained_tok = load_causal_lm(cfg.model, adapter=str(result.adapter_dir))
    after = held_out_stats(trained, trained_tok, driver, held)
    losses = [e["loss"] for e in result.log_history if "loss" in e]
    summary = {
        "adapter": str(result.adapter_dir),
        "examples": len(rows),
        "gold_hit_episodes": sum(retrieved_gold(e.trajectory) for e in episodes),
        "dropped": dropped,
        "max_length": max(len(r["input_ids"]) for r in rows),
        "steps": cfg.warm_start_steps,
        "loss_first": round(losses[0], 4) if losses else None,
        "loss_last": round(losses[-1], 4) if losses else None,
        "held_out": len(held),
        "well_formed_before": before.get("well_formed"),
        "well_formed_after": after.get("well_formed"),
        "before": before,
        "after": after,
        "sft_train_s": round(result.train_runtime_s, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    atomic_write_json(summary_path, summary)
    log.info("warm start: %s", summary)
    return summary

"""The batched rollout driver with a scripted backend: lockstep == sequential == SearchEnv,
token masks cover exactly the <information> blocks, trajectories replay under another rubric."""

from __future__ import annotations

import dataclasses
import json

import pytest
from _envkit import EOS, CharTokenizer, KeywordRetriever, make_task, question_records

from teacherforge.cli import main
from teacherforge.envs import Episode, RolloutDriver, SearchEnv, save_trajectories
from teacherforge.llm import FakeBackend
from teacherforge.llm.base import truncate_at_stop
from teacherforge.rewards import Trajectory, load_rubric
from teacherforge.types import Completion, GenerationParams

SCRIPTS = {
    "Who built the lighthouse of Velmora?": [
        "<think>find the builder</think><search>who built the lighthouse</search>",
        "<think>found it</think><answer>Tomas Reyl</answer>",
    ],
    "At what time does the Velmora fish market open?": [
        "<search>fish market</search>",
        "<search>market opens morning</search>",
        "<answer>four in the morning</answer>",
    ],
    "Who is the mayor of Velmora?": [
        "hmm, no tags here",
        "<search>  </search>",
        "<answer>Ada Brenn</answer>",
    ],
    "How long does the ferry crossing to Skarn take?": ["<search>ferry Skarn crossing</search>"],
    "When is the Salt Festival held?": ["<answer>in August</answer>"],
    "How many cadets does the navigation school train per year?": [
        "<search><answer>nested</answer></search>",
        "<search>",
        "<answer>sixty</answer>",
    ],
}
QUESTIONS = [r for r in question_records() if r["question"] in SCRIPTS]
MAX_TURNS = 4
PARAMS = GenerationParams(max_new_tokens=64, temperature=0.0)
STOPS = ("</search>", "</answer>")


def scripted(prompt, sample_index):
    """Pick the question's next scripted turn from the text so far (turn = blocks seen)."""
    text = prompt if isinstance(prompt, str) else prompt[-1].content
    question = next(q for q in SCRIPTS if q in text)
    turn = text.split("<|im_start|>assistant")[-1].count("</information>")
    script = SCRIPTS[question]
    return script[min(turn, len(script) - 1)] + " trailing text after the stop"


class CharBackend:
    """Scripted backend with TransformersBackend's token semantics over CharTokenizer ids:
    the ids keep the stop string (cut from the text) or end with EOS (id 0); logprob -0.5."""

    identity = "char-fake"

    def __init__(self, responder):
        self.responder = responder
        self.batches: list[list[str]] = []
        self.generate_calls = 0

    def generate(self, prompts, params):
        self.generate_calls += 1
        self.batches.append(list(prompts))
        out = []
        for prompt in prompts:
            for i in range(params.n):
                full = self.responder(prompt, i)
                text, stopped = truncate_at_stop(full, params.stop)
                stop = (
                    next((s for s in params.stop if full[len(text) :].startswith(s)), "") if stopped else ""
                )
                ids = [ord(c) for c in text + stop] + ([] if stopped else [EOS])
                out.append(
                    Completion(
                        text,
                        completion_token_ids=tuple(ids),
                        logprobs=tuple(-0.5 for _ in ids),
                        finish_reason="stop",
                    )
                )
        return out


def turn_text(full: str) -> str:
    """What the driver records for a scripted turn: cut after the first closing action tag."""
    text, stopped = truncate_at_stop(full, STOPS)
    return text + next(s for s in STOPS if full[len(text) :].startswith(s)) if stopped else text


def run_driver(questions, tokenizer=None, params=PARAMS, backend=None, retriever=None, rubric="autodidact"):
    driver = RolloutDriver(make_task(retriever, rubric=rubric, max_turns=MAX_TURNS), tokenizer=tokenizer)
    backend = backend or CharBackend(scripted)
    return driver, backend, driver.run(backend, questions, params)


def summary(episode: Episode):
    return (
        episode.trajectory.to_json(),
        episode.completion_text,
        episode.completion_ids,
        episode.env_mask,
        episode.logprobs,
        episode.reward,
        episode.reward_breakdown,
        episode.info,
    )


def test_lockstep_equals_sequential_runs():
    retriever = KeywordRetriever()
    driver, backend, batched = run_driver(QUESTIONS, CharTokenizer(), retriever=retriever)
    sequential = [run_driver([q], CharTokenizer())[2][0] for q in QUESTIONS]
    assert [summary(e) for e in batched] == [summary(e) for e in sequential]
    # one generate per turn for all live episodes, one search per turn for all their queries
    assert backend.generate_calls == driver.generate_calls == MAX_TURNS
    assert [len(b) for b in backend.batches] == [6, 5, 4, 1]
    assert driver.search_calls == len(retriever.calls) == 4
    assert retriever.calls[:2] == [
        ["who built the lighthouse", "fish market", "ferry Skarn crossing"],
        ["market opens morning", "ferry Skarn crossing"],
    ]


def test_driver_matches_stepping_the_env():
    _, _, episodes = run_driver(QUESTIONS, CharTokenizer())
    env = SearchEnv(task=make_task(max_turns=MAX_TURNS))
    for record, episode in zip(QUESTIONS, episodes):
        text, info = env.reset(options={"question_id": record["id"]})
        assert text == episode.prompt_text
        done = False
        while not done:
            turn = turn_text(scripted(text, 0))
            obs, reward, terminated, truncated, info = env.step(turn)
            text += turn + obs
            done = terminated or truncated
        driver_traj = episode.trajectory.to_json()
        assert driver_traj["metadata"].pop("sample_index") == 0
        assert env.episode.trajectory().to_json() == driver_traj
        assert (reward, info) == (episode.reward, episode.info)
        assert text == episode.prompt_text + episode.completion_text


def test_scripted_outcomes():
    _, _, episodes = run_driver(QUESTIONS, CharTokenizer())
    by_id = {e.trajectory.question_id: e for e in episodes}
    assert by_id["q0"].reward_breakdown["retrieval_match"] == 1.0
    assert by_id["q0"].reward_breakdown["exact_match"] == 1.0
    assert [t.malformed for t in by_id["q2"].trajectory.turns] == ["no_tag", "empty_query", None]
    assert by_id["q3"].info["turn"] == 4 and by_id["q3"].trajectory.final_answer is None
    assert by_id["q3"].trajectory.metadata["truncated"] is True
    assert by_id["q4"].info["queries"] == [] and by_id["q4"].reward_breakdown["retrieval_match"] == 0.0
    assert [t.malformed for t in by_id["q5"].trajectory.turns] == ["two_actions", "unclosed_tag", None]
    rubric = load_rubric("autodidact")
    lo, hi = rubric.bounds
    assert all(lo <= e.reward <= hi for e in episodes)
    assert all(rubric(e.trajectory).total == pytest.approx(e.reward) for e in episodes)


def test_masks_cover_exactly_the_information_blocks():
    tokenizer = CharTokenizer()
    _, _, episodes = run_driver(QUESTIONS, tokenizer)
    for episode in episodes:
        ids, mask = episode.completion_ids, episode.env_mask
        assert len(ids) == len(mask) == len(episode.logprobs) > 0
        assert tokenizer.decode(ids, skip_special_tokens=True) == episode.completion_text
        assert tokenizer.decode(episode.prompt_ids) == episode.prompt_text
        spans = _spans(ids, mask)
        env_spans = [tokenizer.decode(s) for flag, s in spans if flag == 0]
        model_spans = [tokenizer.decode(s, skip_special_tokens=True) for flag, s in spans if flag == 1]
        for block in env_spans:
            assert block.startswith("\n\n<information>\n") and block.endswith("\n</information>\n\n")
            assert block.count("<information>") == 1
        assert "".join(env_spans) == "".join(p for p in _pieces(episode) if p.startswith("\n\n<information>"))
        assert model_spans == [t.text for t in episode.trajectory.turns]
        # every turn but the last is followed by exactly one block
        assert len(env_spans) == len(episode.trajectory.turns) - 1
        assert [lp for flag, lp in zip(mask, episode.logprobs) if flag] == [-0.5] * sum(mask)
        assert [lp for flag, lp in zip(mask, episode.logprobs) if not flag] == [0.0] * (len(mask) - sum(mask))


def _pieces(episode):
    """Split the completion text into model turns and blocks using the trajectory's turns."""
    rest, out = episode.completion_text, []
    for turn in episode.trajectory.turns:
        assert rest.startswith(turn.text)
        out.append(turn.text)
        rest = rest[len(turn.text) :]
        end = rest.find("</information>\n\n")
        if end >= 0:
            out.append(rest[: end + len("</information>\n\n")])
            rest = rest[end + len("</information>\n\n") :]
    assert rest == ""
    return out


def _spans(ids, mask):
    spans, current, flag = [], [], None
    for i, m in zip(ids, mask):
        if m != flag and current:
            spans.append((flag, current))
            current = []
        flag = m
        current.append(i)
    if current:
        spans.append((flag, current))
    return spans


def test_stop_strings_restored_from_token_ids():
    _, _, episodes = run_driver(QUESTIONS[:1], CharTokenizer())
    turns = episodes[0].trajectory.turns
    assert turns[0].text.endswith("</search>") and turns[1].text.endswith("</answer>")
    assert "trailing" not in episodes[0].completion_text


def test_backend_without_usable_ids_closes_the_open_action():
    """FakeBackend cuts the stop string from text and ids: the driver closes the open tag
    (model-written, logprob 0.0) and tokenizes it."""
    backend = FakeBackend(["<search>ferry crossing</search> more", "<answer>ninety minutes</answer>"])
    _, _, episodes = run_driver(QUESTIONS[3:4], CharTokenizer(), backend=backend)
    episode = episodes[0]
    assert [t.text for t in episode.trajectory.turns] == [
        "<search>ferry crossing</search>",
        "<answer>ninety minutes</answer>",
    ]
    assert episode.trajectory.final_answer == "ninety minutes"
    first_block = episode.env_mask.index(0)
    assert episode.logprobs[first_block - len("</search>") : first_block] == (0.0,) * len("</search>")
    assert all(episode.env_mask[:first_block])


def test_n_samples_per_question_and_no_tokenizer():
    params = dataclasses.replace(PARAMS, n=3)
    _, _, episodes = run_driver(QUESTIONS[:2], None, params=params)
    assert [e.trajectory.question_id for e in episodes] == ["q0"] * 3 + ["q1"] * 3
    assert [e.trajectory.metadata["sample_index"] for e in episodes] == [0, 1, 2] * 2
    assert all(e.completion_ids == () and e.env_mask == () and e.logprobs is None for e in episodes)
    assert all(e.prompt_text.endswith("<|im_start|>assistant\n") for e in episodes)


def test_trajectories_replay_under_another_rubric(tmp_path, capsys):
    _, _, episodes = run_driver(QUESTIONS)
    path = tmp_path / "rollouts.jsonl"
    assert save_trajectories(path, episodes) == len(episodes)
    loaded = [Trajectory.from_json(json.loads(line)) for line in path.read_text().splitlines()]
    assert loaded == [e.trajectory for e in episodes]
    assert main(["rewards", "replay", "--trajectories", str(path), "--rewards", "rezero"]) == 0
    assert "retrieval_match" in capsys.readouterr().out


class Counting:
    """A per-sample reward (answered or not) that counts its calls."""

    bounds = (0.0, 1.0)

    def __init__(self):
        self.calls = 0

    def __call__(self, traj):
        self.calls += 1
        return float(traj.final_answer is not None)


class GroupAgreement:
    """A per-group reward: the share of the group that gave the same final answer; records each group."""

    bounds = (0.0, 1.0)
    scope = "group"

    def __init__(self):
        self.groups = []

    def __call__(self, trajs):
        self.groups.append([(t.question_id, t.metadata["sample_index"]) for t in trajs])
        answers = [t.final_answer for t in trajs]
        return [answers.count(a) / len(answers) for a in answers]


def test_rubric_runs_once_per_episode_and_per_group_components_once_per_group():
    from teacherforge.rewards import Rubric

    counting, agreement = Counting(), GroupAgreement()
    rubric = Rubric(
        {"answered": 1.0, "agreement": 0.5, "exact_match": 1.0},
        rewards={"answered": counting, "agreement": agreement},
    )
    assert rubric.group_names == ["agreement"]
    answers = iter(["Tomas Reyl", "Tomas Reyl", "nobody"] * 2)  # the 3 samples of each question, in order
    backend = FakeBackend(lambda prompt, i: f"<answer>{next(answers)}</answer>")
    params = dataclasses.replace(PARAMS, n=3)
    _, _, episodes = run_driver(QUESTIONS[:2], None, params=params, backend=backend, rubric=rubric)
    assert counting.calls == len(episodes) == 6
    assert agreement.groups == [[("q0", 0), ("q0", 1), ("q0", 2)], [("q1", 0), ("q1", 1), ("q1", 2)]]
    for episode in episodes:
        same = 2 / 3 if episode.trajectory.final_answer == "Tomas Reyl" else 1 / 3
        assert episode.reward_breakdown["agreement"] == pytest.approx(same)
        expected = rubric.weights["answered"] + 0.5 * same + episode.reward_breakdown["exact_match"]
        assert episode.reward == pytest.approx(expected)
        assert episode.trajectory.metadata["reward_total"] == episode.reward

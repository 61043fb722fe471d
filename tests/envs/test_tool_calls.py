"""``env.protocol: tools``: native tool calls through Qwen2.5-style and Hermes-style chat templates
(tiny tokenizers of ``_tool_tokenizers``), in the environment and the batched driver."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import pytest
from _envkit import make_task, question_records
from _tool_tokenizers import STYLES, tool_tokenizer
from gymnasium.utils.env_checker import check_env
from hypothesis import strategies as st
from test_fuzz import actions, fuzz

from teacherforge.config import ConfigError, EnvConfig
from teacherforge.envs import ENV_ID, MALFORMED_REASONS, RolloutDriver, SearchEnv
from teacherforge.envs.tool_calls import ToolChat
from teacherforge.types import Completion, GenerationParams

QUERY = "lighthouse Velmora built"


@pytest.fixture(scope="module", params=STYLES)
def tokenizer(request):
    return tool_tokenizer(request.param)


def call(query: str, name: str = "search") -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': {'query': query}})}\n</tool_call>"


def tool_env(tokenizer, render_mode: str | None = None, **env) -> SearchEnv:
    return SearchEnv(task=make_task(protocol="tools", **env), tokenizer=tokenizer, render_mode=render_mode)


def messages_of(task, question: str, turns: list[tuple[str, str | None]]) -> list[dict]:
    """The first messages of an episode on ``question``, then one assistant message per turn
    (with a search call when a query is given)."""
    out = [{"role": "system", "content": task.system_prompt}, {"role": "user", "content": question}]
    for content, query in turns:
        message = {"role": "assistant", "content": content}
        if query is not None:
            message["tool_calls"] = [
                {"type": "function", "function": {"name": "search", "arguments": {"query": query}}}
            ]
        out.append(message)
    return out


def test_episode_search_correction_and_answer_render_the_whole_chat(tokenizer) -> None:
    env = tool_env(tokenizer, "ansi", max_turns=4)
    prompt, _ = env.reset(seed=0, options={"question_id": "q0"})
    assert '"name": "search"' in prompt  # the tool is declared through the chat template
    bad = '<tool_call>\n{"name": "search", "arguments": {"query": "x"\n</tool_call>'
    correction, reward, terminated, truncated, info = env.step(bad)
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert info["turn"] == 1 and info["turns"][0]["malformed"] == "bad_tool_call"  # the turn is used
    assert correction.startswith(tokenizer.eos_token) and "Invalid turn" in correction
    assert correction.endswith("<|im_start|>assistant\n")
    search = env.chat.assistant_text("<think>who built it</think>", QUERY)
    result, *_, info = env.step(search)
    assert info["queries"] == [QUERY] and info["gold_retrieved"]
    assert "[1] The lighthouse of Velmora was built in 1847" in result and "<information>" not in result
    _, reward, terminated, _, info = env.step("<think>found</think> Tomas Reyl ")
    assert terminated and info["final_answer"] == "Tomas Reyl" and reward > 1.0
    trajectory = env.episode.trajectory()
    assert [t.malformed for t in trajectory.turns] == ["bad_tool_call", None, None]
    # prompt + turns + observations == the chat template's rendering of the whole conversation
    question = env.task.question("q0").question
    chat = messages_of(env.task, question, [(bad, None), ("<think>who built it</think>", QUERY)])
    chat.insert(3, {"role": "tool", "name": "search", "content": _tool_content(correction)})
    chat.append({"role": "tool", "name": "search", "content": _tool_content(result)})
    chat.append({"role": "assistant", "content": "<think>found</think> Tomas Reyl "})
    rendered = tokenizer.apply_chat_template(chat, tools=env.task.tools, tokenize=False)
    assert rendered.startswith(env.render())
    assert rendered[len(env.render()) :] == tokenizer.eos_token + "\n"


def _tool_content(observation: str) -> str:
    return observation.split("<tool_response>\n")[1].split("\n</tool_response>")[0]


@pytest.mark.parametrize(
    ("text", "kind", "detail"),
    [
        (call("  water pump "), "search", "water pump"),
        (
            '<tool_call>{"name": "search", "arguments": "{\\"query\\": \\"pump\\"}"}</tool_call>',
            "search",
            "pump",
        ),
        ("<think>hm</think>\nByron", "answer", "Byron"),
        (
            '<tool_call>{"name": "search", "arguments": {"query": "a"}</tool_call>',
            "malformed",
            "bad_tool_call",
        ),
        ("<tool_call>[1, 2]</tool_call>", "malformed", "bad_tool_call"),
        (
            '<tool_call>{"name": "search", "arguments": {"query": 7}}</tool_call>',
            "malformed",
            "bad_tool_call",
        ),
        ("<tool_call>\n{", "malformed", "bad_tool_call"),  # cut mid-call
        (call("a") + call("b"), "malformed", "two_actions"),
        (call("a", name="browse"), "malformed", "unknown_tool"),
        (call("   "), "malformed", "empty_query"),
        ('<tool_call>{"name": "search", "arguments": {}}</tool_call>', "malformed", "empty_query"),
        (call("x" * 65), "malformed", "query_too_long"),
        ("<think>only thinking</think>", "malformed", "no_tag"),
        ("", "malformed", "no_tag"),
        ("<think>never closed", "malformed", "unclosed_tag"),
        ("answer </think>", "malformed", "unclosed_tag"),
    ],
)
def test_parse_tool_turns(tokenizer, text: str, kind: str, detail: str) -> None:
    chat = ToolChat.build(tokenizer, make_task().tags, EnvConfig(protocol="tools", max_query_chars=64), 2)
    action = chat.parse(text)
    assert action.kind == kind
    assert {"search": action.query, "answer": action.answer, "malformed": action.malformed}[kind] == detail
    assert action.malformed is None or action.malformed in MALFORMED_REASONS


def test_check_env_passes_for_tools(tokenizer) -> None:
    env = gym.make(ENV_ID, task=make_task(protocol="tools", max_turns=3), tokenizer=tokenizer)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught if "gymnasium" in (w.filename or "")] == []


TOOL_ACTIONS = st.one_of(
    actions,
    st.builds(call, st.text(max_size=40)),
    st.builds(lambda q: call(q)[:-5], st.text(max_size=20)),  # unclosed call
    st.builds(lambda q, name: call(q, name), st.text(max_size=10), st.sampled_from(["search", "x", ""])),
    st.lists(
        st.sampled_from(["<tool_call>", "</tool_call>", "{", "}", '"name"', ":", '"search"', "<think>"])
    ).map("".join),
)


def test_fuzz_tool_actions(tokenizer, monkeypatch) -> None:
    import test_fuzz

    monkeypatch.setattr(test_fuzz, "actions", TOOL_ACTIONS)
    env = tool_env(tokenizer)
    assert fuzz(env, 20) >= 1_000


class ChatBackend:
    """Scripted backend with TransformersBackend's token semantics: the completion ids end with
    the EOS (id of ``<|im_end|>``), which the text does not contain."""

    def __init__(self, tokenizer, chat: ToolChat) -> None:
        self.tokenizer = tokenizer
        self.chat = chat

    def generate(self, prompts, params: GenerationParams) -> list[Completion]:
        out = []
        for prompt in prompts:
            searched = "<tool_response>" in prompt  # the search's result came back
            text = "<think>done</think>\nTomas Reyl" if searched else self.chat.assistant_text("", QUERY)
            ids = [*self.tokenizer.encode(text, add_special_tokens=False), self.tokenizer.eos_token_id]
            out.append(Completion(text=text, completion_token_ids=tuple(ids), finish_reason="stop"))
        return out


def test_driver_masks_exactly_the_tool_messages(tokenizer) -> None:
    task = make_task(protocol="tools", questions=question_records()[:2])
    driver = RolloutDriver(task, tokenizer=tokenizer)
    episodes = driver.run(
        ChatBackend(tokenizer, driver.chat), task.questions, GenerationParams(max_new_tokens=64)
    )
    for episode in episodes:
        assert episode.trajectory.queries == [QUERY] and episode.trajectory.final_answer == "Tomas Reyl"
        ids, mask = episode.completion_ids, episode.env_mask
        masked = tokenizer.decode([i for i, m in zip(ids, mask) if not m])
        observation = episode.completion_text.split(tokenizer.eos_token, 1)[1].split("<think>done")[0]
        assert masked == observation  # the tool message and the next assistant header, nothing else
        assert ids[mask.index(0) - 1] == tokenizer.eos_token_id  # the model's end of turn stays trained
        # the token ids are what apply_chat_template gives for the whole conversation
        chat = messages_of(task, episode.trajectory.question, [("", QUERY)])
        chat.append({"role": "tool", "name": "search", "content": _tool_content(observation)})
        chat.append({"role": "assistant", "content": "<think>done</think>\nTomas Reyl"})
        whole = tokenizer.apply_chat_template(chat, tools=task.tools, tokenize=True, return_dict=False)
        assert [*episode.prompt_ids, *ids] == list(whole)[: len(episode.prompt_ids) + len(ids)]


def test_templates_without_tool_support_fail_at_build_with_one_line() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "trainers"))
    from _sft_tiny import smollm2_tokenizer

    smollm2 = smollm2_tokenizer()  # its chat template ignores tools
    task = make_task(protocol="tools")
    with pytest.raises(ValueError, match=r"ignores tools.*env\.protocol: tags") as caught:
        RolloutDriver(task, tokenizer=smollm2)
    assert smollm2.name_or_path and smollm2.name_or_path in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=r"no tokenizer.*env\.protocol: tags"):
        SearchEnv(task=task)
    smollm2.chat_template = None
    with pytest.raises(ValueError, match=r"has no chat template.*env\.protocol: tags"):
        RolloutDriver(task, tokenizer=smollm2)


def test_protocol_is_validated() -> None:
    assert EnvConfig().protocol == "tags"
    with pytest.raises(ConfigError, match=r"env\.protocol: 'json' is not allowed"):
        EnvConfig(protocol="json")

"""Tiny tokenizers with tool-capable chat templates, for the ``env.protocol: tools`` tests.

Both reuse the real SmolLM2 tokenizer (its vocabulary and ``<|im_end|>`` EOS) with another chat
template: ``qwen`` is the Qwen2.5-Instruct template TRL ships (so TRL recognises it and supplies
its response template), ``hermes`` a Hermes-style template written here (tools in the system
prompt, results in a ``tool`` turn inside ``<tool_response>``; no response template is known for
it, so the protocol falls back to its ``<tool_call>`` JSON convention).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: Hermes-style tool-use chat template (ChatML turns, ``<tool_call>`` JSON, ``tool`` role results).
HERMES_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}{%- set system = messages[0].content %}"
    "{%- set rest = messages[1:] %}{%- else %}{%- set system = 'You are a helpful assistant.' %}"
    "{%- set rest = messages %}{%- endif %}"
    "{{- '<|im_start|>system\\n' + system }}"
    "{%- if tools %}"
    "{{- '\\n\\nYou are a function calling AI model. You are provided with function signatures within "
    "<tools></tools> XML tags.\\n<tools>\\n' }}"
    "{%- for tool in tools %}{{- tool | tojson }}{{- '\\n' }}{%- endfor %}"
    "{{- '</tools>\\nFor each function call return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-dict>}'
    "\\n</tool_call>' }}"
    "{%- endif %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- for message in rest %}"
    "{%- if message.role == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' + (message.content or '') }}"
    "{%- for call in message.tool_calls or [] %}"
    "{%- if message.content or not loop.first %}{{- '\\n' }}{%- endif %}"
    '{{- \'<tool_call>\\n{"name": "\' + call.function.name + \'", "arguments": \' }}'
    "{{- call.function.arguments | tojson }}{{- '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif message.role == 'tool' %}"
    "{{- '<|im_start|>tool\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

STYLES = ("qwen", "hermes")


@lru_cache(maxsize=4)
def _template(style: str) -> str:
    if style == "hermes":
        return HERMES_TEMPLATE
    if style == "qwen":
        from trl.chat_template_utils import qwen2_5_chat_template

        return qwen2_5_chat_template
    raise ValueError(f"unknown template style {style!r}; use one of {STYLES}")


def tool_tokenizer(style: str) -> Any:
    """A fresh SmolLM2 tokenizer carrying the ``style`` tool-capable chat template."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "trainers"))
    from _sft_tiny import smollm2_tokenizer

    tokenizer = smollm2_tokenizer()
    tokenizer.chat_template = _template(style)
    tokenizer.name_or_path = f"tiny-{style}-tools"
    return tokenizer

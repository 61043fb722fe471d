"""The shared SFT helper: ChatML training template, assistant-only mask, LoRA training, resume."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from teacherforge.chat_template import training_chat_template
from teacherforge.config import LoraAdapterConfig
from teacherforge.run import TrainingDir
from teacherforge.trainers import sft_common
from teacherforge.trainers.sft_common import build_sft_trainer, last_checkpoint, prepare_tokenizer, train_sft
from tests.trainers._sft_tiny import chat_rows, smollm2_tokenizer, tiny_model

LORA = LoraAdapterConfig(r=4, alpha=8, dropout=0.0)
TRAIN = dict(lora=LORA, learning_rate=5e-3, batch_size=4, max_length=128, report_to="none")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("generation_prompt", [False, True])
@pytest.mark.parametrize("with_system", [False, True])
def test_template_renders_like_smollm2(generation_prompt, with_system):
    tokenizer = smollm2_tokenizer()
    shipped = tokenizer.chat_template
    assert not sft_common.has_generation_markers(shipped)  # why the training template exists
    conversation = chat_rows(1)[0]["messages"][(0 if with_system else 1) :]
    if generation_prompt:
        conversation = conversation[:-1]
    expected = tokenizer.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=generation_prompt
    )
    ours = tokenizer.apply_chat_template(
        conversation,
        tokenize=False,
        add_generation_prompt=generation_prompt,
        chat_template=training_chat_template(),
    )
    assert ours == expected


def test_prepare_tokenizer_masks_assistant_content_and_stop_token():
    from trl.chat_template_utils import is_chat_template_stop_token_trained

    tokenizer = prepare_tokenizer(smollm2_tokenizer())
    assert sft_common.has_generation_markers(tokenizer.chat_template)
    assert tokenizer.pad_token is not None
    assert is_chat_template_stop_token_trained(tokenizer)
    conversation = chat_rows(1)[0]["messages"]
    out = tokenizer.apply_chat_template(
        conversation, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    trained = tokenizer.decode([t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m])
    assistant = [m["content"] for m in conversation if m["role"] == "assistant"]
    assert trained == "".join(a + "<|im_end|>" for a in assistant)


def test_prepare_tokenizer_rejects_non_chatml_without_markers():
    tokenizer = smollm2_tokenizer()
    tokenizer.chat_template = None

    class NoChatML:
        chat_template = None
        name_or_path = "toy"
        pad_token = "x"

        def get_vocab(self):
            return {"a": 0}

    with pytest.raises(ValueError, match="ChatML tokens"):
        prepare_tokenizer(NoChatML())
    # a ChatML vocabulary without any template gets ours
    assert prepare_tokenizer(tokenizer).chat_template == training_chat_template()


def test_collated_batch_labels_only_assistant_tokens(tmp_path):
    tokenizer = smollm2_tokenizer()
    rows = chat_rows(8)
    trainer = build_sft_trainer(
        tiny_model(tokenizer), rows, tmp_path, max_steps=1, save_steps=10, tokenizer=tokenizer, **TRAIN
    )
    batch = next(iter(trainer.get_train_dataloader()))
    by_user_text = {r["messages"][1]["content"]: r["messages"] for r in rows}
    assert batch["labels"].shape == batch["input_ids"].shape
    for input_ids, labels in zip(batch["input_ids"], batch["labels"]):
        text = tokenizer.decode(input_ids)
        (question,) = [q for q in by_user_text if q in text]
        trained = tokenizer.decode(input_ids[labels != -100])
        expected = "".join(
            m["content"] + "<|im_end|>" for m in by_user_text[question] if m["role"] == "assistant"
        )
        assert trained == expected
        assert "Context [1]" not in trained and "How heavy" not in trained


class _StopAt(TrainerCallback):
    """Simulates an interruption: training stops after ``step`` (a checkpoint is saved there)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


def _lora_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def test_tiny_run_changes_lora_weights_and_saves_adapter(tmp_path):
    tokenizer = smollm2_tokenizer()
    trainer = build_sft_trainer(
        tiny_model(tokenizer),
        chat_rows(8),
        tmp_path,
        max_steps=3,
        save_steps=10,
        tokenizer=tokenizer,
        **TRAIN,
    )
    before = _lora_state(trainer.model)
    assert before and all(("lora_A" in k or "lora_B" in k) for k in before)
    trainer.train()
    after = _lora_state(trainer.model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before)
    base = [p for n, p in trainer.model.named_parameters() if "lora_" not in n]
    assert not any(p.requires_grad for p in base)


def test_train_sft_resume_matches_uninterrupted_run(tmp_path):
    tokenizer = smollm2_tokenizer()
    rows = chat_rows(12)
    full = train_sft(
        tiny_model(tokenizer),
        rows,
        tmp_path / "full",
        max_steps=4,
        save_steps=2,
        tokenizer=smollm2_tokenizer(),
        **TRAIN,
    )
    assert (full.adapter_dir / "adapter_config.json").is_file()
    assert TrainingDir(full.output_dir).sft_log.is_file()
    assert full.tokens_per_s > 0 and full.train_runtime_s > 0
    assert [h["step"] for h in full.log_history if "loss" in h] == [1, 2, 3, 4]

    # interrupt a 4-step run after its step-2 checkpoint (same schedule as the full run), then resume
    interrupted = build_sft_trainer(
        tiny_model(tokenizer),
        rows,
        tmp_path / "split",
        max_steps=4,
        save_steps=2,
        tokenizer=smollm2_tokenizer(),
        **TRAIN,
    )
    interrupted.add_callback(_StopAt(2))
    interrupted.train()
    assert last_checkpoint(tmp_path / "split").name == "checkpoint-2"
    resumed = train_sft(
        tiny_model(tokenizer),
        rows,
        tmp_path / "split",
        max_steps=4,
        save_steps=2,
        tokenizer=smollm2_tokenizer(),
        resume=True,
        **TRAIN,
    )
    new_steps = [h["step"] for h in resumed.log_history if "loss" in h]
    assert new_steps[-2:] == [3, 4]
    losses_full = {h["step"]: h["loss"] for h in full.log_history if "loss" in h}
    losses_resumed = {h["step"]: h["loss"] for h in resumed.log_history if "loss" in h}
    for step in (3, 4):  # same data order, optimizer and RNG state after resuming
        assert losses_resumed[step] == pytest.approx(losses_full[step], rel=1e-4)

    from safetensors.torch import load_file

    a = load_file(full.adapter_dir / "adapter_model.safetensors")
    b = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6)


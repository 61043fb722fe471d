"""``teacherforge export model``: a tiny random model + a random LoRA, merged, reloaded, compared."""

from __future__ import annotations

from pathlib import Path

import pytest

from teacherforge.cli import main
from teacherforge.workspace import atomic_write_json

DATASET = {"version": "d4t4v3r510n", "parent": None}
METRICS = {
    "split": "test",
    "teacher": "teacher (oracle)",
    "metrics": {
        "fixed": {
            "sft": {
                "n": 38,
                "exact_match": {"mean": 0.25, "low": 0.1, "high": 0.4},
                "f1": {"mean": 0.4321, "low": 0.3, "high": 0.55},
                "retrieval_hit_rate": 0.9,
                "ratio_to_teacher": {"f1": 0.4321},
            }
        }
    },
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run dir whose ``sft/adapter`` is a random LoRA (non-zero B) on a tiny random model; its
    manifest records a dataset version and an evaluation of an older adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from teacherforge.models import save_random_model

    root = tmp_path_factory.mktemp("export")
    base = save_random_model(root / "base")
    torch.manual_seed(1)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    run = root / "run"
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), lora).save_pretrained(run / "sft" / "adapter")
    evaluated = {
        "name": "eval",
        "inputs": {"sft/adapter": "0ld4d4pt3r"},
        "finished_at": "2026-01-02T03:04:05",
    }
    atomic_write_json(run / "manifest.json", {"layout_version": 1, "steps": [evaluated], "dataset": DATASET})
    atomic_write_json(run / "report" / "metrics.json", METRICS)
    return run, base


def _export(run: Path, base: Path, *extra: str) -> int:
    return main(["export", "model", "--run-dir", str(run), "--set", f"sft.model={base}", *extra])


def test_exported_model_has_the_logits_of_base_plus_adapter_and_a_card(trained, capsys):
    import torch
    import yaml
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from teacherforge.models import load_causal_lm

    run, base = trained
    assert _export(run, base, "--set", "dataset.license=cc-by-4.0") == 0
    out = run / "export" / "sft"
    assert sorted(p.name for p in out.parent.iterdir()) == ["sft"]  # no temp dir left beside it
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    assert str(out) in capsys.readouterr().err

    exported = AutoModelForCausalLM.from_pretrained(out).eval()
    assert not any("lora" in name for name in exported.state_dict())
    reference, _ = load_causal_lm(
        str(base), adapter=str(run / "sft" / "adapter"), device="cpu", dtype="float32"
    )
    plain = AutoModelForCausalLM.from_pretrained(base).eval()
    ids = AutoTokenizer.from_pretrained(out)(
        "Which ship recovered the capsule?", return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        got, want, before = (m(ids).logits for m in (exported, reference, plain))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert (got - before).abs().max() > 1e-3  # the adapter changed the model

    card = (out / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["base_model"] == str(base) and front["library_name"] == "transformers"
    assert front["license"] == "cc-by-4.0" and "sft" in front["tags"]
    assert DATASET["version"] in card and str(run / "sft" / "adapter") in card
    assert "| fixed | 38 | 0.250 [0.100, 0.400] | 0.432 [0.300, 0.550] | 0.43 | 0.900 |" in card
    assert "the adapter changed since" in card  # the report evaluated another adapter
    assert f'AutoModelForCausalLM.from_pretrained("{out}")' in card


def test_a_failed_export_leaves_the_previous_one(trained, monkeypatch):
    run, base = trained
    out = run / "export" / "sft"
    if not out.is_dir():
        assert _export(run, base) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def killed(base_model, adapter_dir, out_dir):
        out_dir.mkdir()
        (out_dir / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr("teacherforge.trainers.sft.merge_adapter", killed)
    with pytest.raises(RuntimeError, match="killed"):
        _export(run, base, "-v")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["sft"]


def test_exporting_an_untrained_student_is_one_line(trained, capsys):
    run, base = trained
    assert (
        main(["export", "model", "--model", "grpo", "--run-dir", str(run), "--set", f"grpo.model={base}"])
        == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run `teacherforge train grpo` first" in err[0], err
    assert not (run / "export" / "grpo").exists()

"""Each adaptation of TRL's private API (medix_r1.training.trl_compat) against the installed TRL itself.

These tests fail, naming the member, as soon as a TRL release renames, removes or re-signs
something the TRL backend overrides, calls or reassigns; and each patch is shown to take effect in
TRL's own code. A TRL without what we need makes the patch raise TrlCompatError (never a quiet skip).
"""

from __future__ import annotations

import inspect
import re
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl", reason="the TRL backend needs the train extra")

from medix_r1.errors import MedixError  # noqa: E402
from medix_r1.training import trl_compat  # noqa: E402
from medix_r1.training.trl_compat import TESTED_TRL, TrlCompatError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_trl_is_the_tested_range_pinned_in_pyproject_and_constraints():
    from packaging.specifiers import SpecifierSet

    train_pins = re.findall(r'"trl([^"]*)"', (ROOT / "pyproject.toml").read_text())  # the train extra's
    assert train_pins == [TESTED_TRL]
    assert trl.__version__ in SpecifierSet(TESTED_TRL)
    pins = [
        line.split("==")[1].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.startswith("trl==")
    ]
    assert pins == [trl.__version__]


# What the tested TRL has, written out here (not read from trl_compat's table), so that a change to
# the table or to TRL both show up.
@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("_save", ["self", "output_dir", "state_dict"]),
        ("_generate", ["self", "prompts"]),
        ("_calculate_rewards", ["self", "inputs", "prompts", "completions", "completion_ids_list"]),
        ("_generate_and_score_completions", ["self", "inputs"]),
        ("_save_checkpoint", ["self", "model", "trial"]),
    ],
)
def test_grpo_trainer_has_each_private_method_we_adapt(name, parameters):
    from trl import GRPOTrainer

    member = getattr(GRPOTrainer, name, None)
    assert callable(member), f"TRL's GRPOTrainer has no {name}: trl_compat must follow TRL"
    assert list(inspect.signature(member).parameters) == parameters
    assert list(trl_compat.PRIVATE_METHODS[name]) == parameters


def test_check_trl_passes_on_the_installed_trl():
    trl_compat.check_trl()


def test_our_overrides_take_what_trl_passes_them():
    """The trainer subclass overrides exactly the methods of the table, with TRL's parameters."""
    cls = trl_compat.trainer_class()
    parent = cls.__mro__[1]
    for name in ("_save", "_generate", "_calculate_rewards", "_generate_and_score_completions"):
        assert name in cls.__dict__, name
        ours = list(inspect.signature(cls.__dict__[name]).parameters)
        assert ours == list(inspect.signature(getattr(parent, name)).parameters), name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("remove", "GRPOTrainer._calculate_rewards is missing"),
        ("resign", "GRPOTrainer._calculate_rewards takes (self, inputs, prompts), expected (self, inputs, "),
    ],
)
def test_a_trl_without_a_method_we_override_raises(monkeypatch, change, message):
    from trl import GRPOTrainer

    if change == "remove":
        monkeypatch.delattr(GRPOTrainer, "_calculate_rewards")
    else:
        monkeypatch.setattr(GRPOTrainer, "_calculate_rewards", lambda self, inputs, prompts: None)
    monkeypatch.setattr(trl_compat, "_TRAINER_CLASS", None)
    with pytest.raises(TrlCompatError) as err:
        trl_compat.trainer_class()
    text = str(err.value)
    assert message in text
    assert f"installed TRL ({trl.__version__})" in text and f"pip install 'trl{TESTED_TRL}'" in text
    assert isinstance(err.value, MedixError) and isinstance(err.value, RuntimeError)


def test_trainer_attributes_are_checked_after_trl_builds_them():
    def metrics():
        return {"train": defaultdict(list), "eval": defaultdict(list)}

    complete = SimpleNamespace(
        _metrics=metrics(), use_vllm=False, reward_func_names=["format"], ref_model=None
    )
    trl_compat.check_trainer_attributes(complete)

    no_ref = SimpleNamespace(_metrics=metrics(), use_vllm=False, reward_func_names=[])
    with pytest.raises(TrlCompatError, match=r"GRPOTrainer\(\)\.ref_model is missing"):
        trl_compat.check_trainer_attributes(no_ref)
    flat = SimpleNamespace(_metrics=defaultdict(list), use_vllm=False, reward_func_names=[], ref_model=None)
    with pytest.raises(TrlCompatError, match=r"_metrics is not \{'train': defaultdict\(list\)"):
        trl_compat.check_trainer_attributes(flat)


# --- the CPU scoring switch (trl.trainer.utils._use_triton) -----------------------------------------


@pytest.fixture()
def trl_utils(monkeypatch):
    """trl.trainer.utils with TRL's own switch (a trainer built earlier in this process may have
    patched it), and whatever it was restored after the test."""
    import trl.trainer.utils as module

    assert hasattr(module, "_use_triton"), (
        "TRL has no trl.trainer.utils._use_triton: trl_compat must follow TRL"
    )
    monkeypatch.setattr(module, "_use_triton", getattr(module._use_triton, "__wrapped__", module._use_triton))
    return module


def test_trl_decides_by_the_switch_we_reassign(trl_utils):
    assert list(inspect.signature(trl_utils._use_triton).parameters) == ["device"]
    assert trl_utils._use_triton(torch.device("cpu")) is False  # TRL's own answer on a CPU
    assert trl_compat._reads_global(trl_utils.add_fused_lm_head, "_use_triton")


def test_the_cpu_switch_takes_effect_in_trls_fused_forward(trl_utils, tiny_model_dir):
    """After the patch TRL's own fused forward (on the tiny Qwen2-VL the training tests train) asks
    our switch, gets True on a CPU, and returns the same log-probs as without it."""
    from medix_r1.models import load_policy

    model, _ = load_policy(str(tiny_model_dir), dtype="float32", device="cpu")
    model.eval()
    trl_utils.add_fused_lm_head(model)
    ids = torch.tensor([[3, 9, 4, 12, 7, 5]])
    labels = torch.tensor([[-100, -100, -100, 12, 7, 5]])
    with torch.no_grad():
        before = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs

    assert trl_compat.score_completion_tokens_only_on_cpu() is True
    patched = trl_utils._use_triton
    assert getattr(patched, "_medix_cpu_compact", False) and patched(torch.device("cpu")) is True
    asked = []

    def spy(device):
        asked.append(patched(device))
        return asked[-1]

    trl_utils._use_triton = spy
    with torch.no_grad():
        after = model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs
    assert asked == [True]
    assert torch.allclose(before, after, atol=1e-6)
    trl_utils._use_triton = patched
    assert trl_compat.score_completion_tokens_only_on_cpu() is True  # twice: not a wrapper of a wrapper
    assert trl_utils._use_triton is patched


def test_a_trl_without_the_switch_raises_instead_of_skipping(trl_utils, monkeypatch):
    monkeypatch.delattr(trl_utils, "_use_triton")
    with pytest.raises(TrlCompatError, match=r"trl\.trainer\.utils\._use_triton is missing"):
        trl_compat.score_completion_tokens_only_on_cpu()

    monkeypatch.setattr(trl_utils, "_use_triton", lambda device, chunk: False, raising=False)
    with pytest.raises(TrlCompatError, match=r"_use_triton takes \(device, chunk\), expected \(device\)"):
        trl_compat.score_completion_tokens_only_on_cpu()

    monkeypatch.setattr(trl_utils, "_use_triton", lambda device: False)
    monkeypatch.setattr(trl_utils, "add_fused_lm_head", lambda model: None)  # no longer asks the switch
    with pytest.raises(TrlCompatError, match="add_fused_lm_head no longer decides by _use_triton"):
        trl_compat.score_completion_tokens_only_on_cpu()

"""The quickstart's cheaper RL step: CPU generation samples by inverse CDF (same distribution as
``torch.multinomial``), and only while TRL generates."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def test_inverse_cdf_sampling_draws_from_the_same_distribution():
    from medix_r1.training.trl_compat import cpu_categorical_sampling

    probs = torch.tensor([0.1, 0.0, 0.6, 0.3, 0.0])
    rows = probs.expand(40_000, 5).contiguous()
    generator = torch.Generator().manual_seed(0)
    with cpu_categorical_sampling():
        assert getattr(torch.multinomial, "_medix_inverse_cdf", False)
        drawn = torch.multinomial(rows, 1, generator=generator)
    assert drawn.shape == (40_000, 1) and drawn.dtype == torch.long
    counts = torch.bincount(drawn.squeeze(1), minlength=5).double() / len(drawn)
    assert counts[1] == 0 and counts[4] == 0  # zero-probability entries are never drawn
    assert torch.allclose(counts, probs.double(), atol=0.01)
    # Unnormalised weights (what multinomial accepts) and one-hot rows.
    with cpu_categorical_sampling():
        scaled = torch.multinomial(torch.tensor([[0.0, 5.0, 0.0], [2.0, 0.0, 0.0]]), 1)
    assert scaled.squeeze(1).tolist() == [1, 0]


def test_other_calls_and_the_original_are_untouched():
    from medix_r1.training.trl_compat import cpu_categorical_sampling

    original = torch.multinomial
    with cpu_categorical_sampling():
        wrapper = torch.multinomial
        with cpu_categorical_sampling():  # nested: the same wrapper, not a wrapper of a wrapper
            assert torch.multinomial is wrapper
        assert torch.multinomial is wrapper  # leaving the inner one does not restore early
        several = torch.multinomial(torch.ones(2, 6), 3)  # several draws: the original kernel (no repeats)
        assert several.shape == (2, 3)
        assert all(len(set(row)) == 3 for row in several.tolist())
        one_dim = torch.multinomial(torch.ones(4), 1)
        assert one_dim.shape == (1,)
    assert torch.multinomial is original


def test_generate_uses_it_only_inside_the_trainer_generation(monkeypatch):
    """MedixGRPOTrainer._generate turns the fast path on around TRL's generation on a CPU."""
    pytest.importorskip("trl")
    from medix_r1.training import trl_compat

    seen = []

    class Fake:
        def _generate(self, prompts):
            seen.append(getattr(torch.multinomial, "_medix_inverse_cdf", False))
            return prompts

    cls = trl_compat.trainer_class()
    trainer = cls.__new__(cls)
    monkeypatch.setattr(cls.__mro__[1], "_generate", Fake._generate)
    trainer._timing = {"generation_s": 0.0}
    trainer.use_vllm = False

    class Accelerator:
        device = torch.device("cpu")

    trainer.accelerator = Accelerator()
    assert cls._generate(trainer, ["p"]) == ["p"]
    assert seen == [True]
    assert not getattr(torch.multinomial, "_medix_inverse_cdf", False)
    assert trainer._timing["generation_s"] > 0

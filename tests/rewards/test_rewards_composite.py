"""The composite reward on crafted rollouts: every component and the weighted overall, exactly as
the published reward computes them (reference section 3)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from medix_r1.judges import AnswerMatchJudge, FakeChatBackend
from medix_r1.rewards import (
    PRESETS,
    CompositeReward,
    EmbeddingSimilarityReward,
    FormatReward,
    ModalityReward,
    RewardInputError,
    build_reward,
    get_preset,
)


class CaseFoldEmbedder:
    """Test embedder: similarity 1 for texts equal up to case, else 0 (one-hot by hash)."""

    identity = "casefold"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 4096), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, int(hashlib.md5(text.casefold().encode()).hexdigest(), 16) % 4096] = 1.0
        return out


def published_overall(llm: float, embed: float, modality: float, fmt: float) -> float:
    content = 1 - 0.1  # the published arithmetic, in its order
    return content * 0.575 * llm + content * 0.375 * embed + content * 0.05 * modality + 0.1 * fmt


SOL = "<X_RAY> Left lung."
# (id, response, solution, format, llm, embed, modality)
CASES = [
    ("exact", "<X_RAY><thinking>r</thinking><answer>Left lung</answer>", SOL, 1, 1, 1, 1),
    (
        "tag-whitespace",
        "< X_RAY >\n< thinking > r </ thinking >\n< answer > Left lung. </ answer >",
        SOL,
        1,
        1,
        1,
        1,
    ),
    ("lower-modality", "<x_ray><thinking>r</thinking><answer>Left lung</answer>", SOL, 1, 1, 1, 1),
    # Upper-case reasoning tag: the format and modality checks look for '<thinking>' literally.
    ("upper-thinking-tag", "<X_RAY><THINKING>r</THINKING><answer>Left lung</answer>", SOL, 0, 1, 1, 0),
    ("text-after-answer", "<X_RAY><thinking>r</thinking><answer>Left lung</answer> done", SOL, 0, 1, 1, 1),
    (
        "two-answer-blocks",
        "<X_RAY><thinking>r</thinking><answer>Left lung</answer><answer>x</answer>",
        SOL,
        1,
        1,
        1,
        1,
    ),
    ("colon-answer", "<X_RAY><thinking>r</thinking><answer>Answer: Left lung</answer>", SOL, 1, 0, 0, 1),
    ("question-answer", "<X_RAY><thinking>r</thinking><answer>Left lung?</answer>", SOL, 1, 0, 0, 1),
    ("one-letter", "<X_RAY><thinking>r</thinking><answer>B</answer>", "<X_RAY> B", 1, 0, 0, 1),
    ("double-underscore", "<X_RAY><thinking>r</thinking><answer>Left __ lung</answer>", SOL, 1, 0, 0, 1),
    ("trailing-periods", "<X_RAY><thinking>r</thinking><answer>Left lung...</answer>", SOL, 1, 1, 1, 1),
    ("no-tags", "Left lung", SOL, 0, 1, 1, 0),
    ("untagged-solution", "<X_RAY><thinking>r</thinking><answer>Left lung</answer>", "Left lung", 1, 0, 0, 0),
    # Not an exact match (case differs): the judge and the embedder decide.
    ("case-differs", "<X_RAY><thinking>r</thinking><answer>left LUNG</answer>", SOL, 1, 1, 1, 1),
    ("wrong", "<X_RAY><thinking>r</thinking><answer>Right femur</answer>", SOL, 1, 0, 0, 1),
    (
        "text-before-thinking",
        "<X_RAY> I see <thinking>r</thinking><answer>Left lung</answer>",
        SOL,
        1,
        1,
        1,
        0,
    ),
    ("slash-joined", "<X_RAY><thinking>r</thinking><answer>3 / 4 cm</answer>", "<X_RAY> 3/4 cm", 1, 1, 1, 1),
    # The reference modality is not stripped: a leading space in the solution never matches.
    (
        "solution-leading-space",
        "<X_RAY><thinking>r</thinking><answer>Left lung</answer>",
        " <X_RAY> Left lung",
        1,
        1,
        1,
        0,
    ),
    (
        "think-tags-under-thinking-preset",
        "<X_RAY><think>r</think><answer>Left lung</answer>",
        SOL,
        0,
        1,
        1,
        0,
    ),
    ("empty-answer", "<X_RAY><thinking>r</thinking><answer></answer>", SOL, 1, 0, 0, 1),
    ("wrong-modality", "<CT_SCAN><thinking>r</thinking><answer>Left lung</answer>", SOL, 1, 1, 1, 0),
    ("no-reasoning-block", "<X_RAY><answer>Left lung</answer>", SOL, 0, 1, 1, 0),
]


@pytest.fixture
def reward() -> CompositeReward:
    return build_reward("medix-r1", judge=AnswerMatchJudge(FakeChatBackend()), embedder=CaseFoldEmbedder())


@pytest.mark.parametrize(
    ("name", "response", "solution", "fmt", "llm", "embed", "modality"), CASES, ids=[c[0] for c in CASES]
)
def test_published_components(reward, name, response, solution, fmt, llm, embed, modality) -> None:
    [row] = reward.score([response], [solution])
    assert row == {
        "overall": published_overall(llm, embed, modality, fmt),
        "accuracy_llm": float(llm),
        "accuracy_embed": float(embed),
        "modality": float(modality),
        "format": float(fmt),
    }


def test_batch_equals_one_by_one_and_skips_requests_for_shortcuts(reward) -> None:
    responses = [c[1] for c in CASES]
    solutions = [c[2] for c in CASES]
    batch = reward.score(responses, solutions)
    backend = reward.component("accuracy_llm").judge.backend
    # Only rollouts without a shortcut reach the judge: case-differs, wrong, and nothing else.
    assert backend.stats.requests == 2
    singles = [reward.score([r], [s])[0] for r, s in zip(responses, solutions, strict=True)]
    assert batch == singles


def test_think_preset() -> None:
    reward = build_reward(
        "medix-r1-think", judge=AnswerMatchJudge(FakeChatBackend()), embedder=CaseFoldEmbedder()
    )
    [row] = reward.score(["<X_RAY><think>r</think><answer>Left lung</answer>"], [SOL])
    assert row["format"] == 1.0 and row["modality"] == 1.0
    [row] = reward.score(["<X_RAY><thinking>r</thinking><answer>Left lung</answer>"], [SOL])
    assert row["format"] == 0.0 and row["modality"] == 0.0


def test_weights_are_the_published_ones() -> None:
    weights = dict(get_preset("medix-r1").weights)
    assert weights == pytest.approx(
        {"accuracy_llm": 0.5175, "accuracy_embed": 0.3375, "modality": 0.045, "format": 0.1}
    )
    assert sum(weights.values()) == pytest.approx(1.0)
    assert get_preset("medix-r1").differs is None
    assert all(PRESETS[name].differs for name in PRESETS if name != "medix-r1")


def test_unknown_preset_suggests() -> None:
    with pytest.raises(ValueError, match="did you mean 'medix-r1-think'"):
        get_preset("medix-r1-thnk")


def test_separate_modality_field() -> None:
    reward = build_reward("medix-r1", judge=AnswerMatchJudge(FakeChatBackend()), embedder=CaseFoldEmbedder())
    response = "<X_RAY><thinking>r</thinking><answer>Left lung</answer>"
    [row] = reward.score([response], ["Left lung"], ["CR"])  # DICOM code -> <X_RAY>
    assert row["modality"] == 1.0 and row["accuracy_llm"] == 1.0
    with pytest.raises(RewardInputError, match="rollout 0.*tagged <CT_SCAN> but 'modality' says <X_RAY>"):
        reward.score([response], ["<CT_SCAN> Left lung"], ["X_RAY"])
    with pytest.raises(RewardInputError, match="unknown modality"):
        reward.score([response], ["Left lung"], ["banana"])


def test_embedding_reward_encodes_each_string_once_and_caches_references() -> None:
    embedder = CaseFoldEmbedder()
    reward = EmbeddingSimilarityReward(embedder)
    completions = [f"<answer>{a}</answer>" for a in ["left LUNG", "left LUNG", "femur", "Left lung", "B"]]
    assert reward(completions, solution=[SOL] * 5) == [1.0, 1.0, 0.0, 1.0, 0.0]
    # 'Left lung' exact and 'B' invalid need no encoding; duplicates are encoded once.
    assert embedder.calls == [["left LUNG", "Left lung", "femur"]]
    reward(["<answer>left lung x</answer>"], solution=[SOL])
    assert embedder.calls[-1] == ["left lung x"]  # the reference came from the cache
    # A repeated answer (a converging policy's "femur", step after step) is not encoded again.
    calls = len(embedder.calls)
    assert reward(["<answer>femur</answer>", "<answer>left lung x</answer>"], solution=[SOL] * 2) == [
        0.0,
        0.0,
    ]
    assert len(embedder.calls) == calls
    # The answer cache is small and separate: answers cannot push references out.
    small = EmbeddingSimilarityReward(CaseFoldEmbedder(), answer_cache_size=1)
    small([f"<answer>a{i}</answer>" for i in range(5)], solution=[SOL] * 5)
    assert len(small.answer_cache) == 1 and len(small.reference_cache) == 1


def test_embedding_reward_continuous_and_threshold() -> None:
    class Fixed:
        identity = "fixed"

        def encode(self, texts):
            table = {"a b": [1.0, 0.0], "ref": [0.8, 0.6], "c d": [0.6, 0.8]}
            return np.array([table[t] for t in texts], dtype=np.float32)

    sol = ["<X_RAY> ref", "<X_RAY> ref"]
    completions = ["<answer>a b</answer>", "<answer>c d</answer>"]
    # cos(a b, ref) = 0.8 (at the threshold: 1), cos(c d, ref) = 0.96
    assert EmbeddingSimilarityReward(Fixed())(completions, solution=sol) == [1.0, 1.0]
    assert EmbeddingSimilarityReward(Fixed(), threshold=0.9)(completions, solution=sol) == [0.0, 1.0]
    soft = EmbeddingSimilarityReward(Fixed(), binary=False)(completions, solution=sol)
    assert soft == pytest.approx([0.8, 0.96], abs=1e-6)


def test_single_rewards_accept_chat_completions() -> None:
    chat = [[{"role": "assistant", "content": "<CT_SCAN><thinking>r</thinking><answer>x y</answer>"}]]
    assert FormatReward()(chat) == [1.0]
    assert ModalityReward()(chat, solution=["<CT_SCAN> x y"]) == [1.0]


def test_renormalising_is_not_offered() -> None:
    # One policy for an unscored component (rewards/composite.py): it adds nothing, nothing is re-weighted.
    reward = build_reward("medix-r1", judge=AnswerMatchJudge(FakeChatBackend()), embedder=CaseFoldEmbedder())
    row = {"accuracy_llm": None, "accuracy_embed": 1.0, "modality": 1.0, "format": 1.0}
    assert reward.combine(row) == pytest.approx(0.3375 + 0.045 + 0.1)
    assert reward.unscored(row) == ["accuracy_llm"]
    with pytest.raises(TypeError, match="renormalize_missing"):  # no switch for it, in code or config
        CompositeReward(reward.components, reward.fmt, reward.preset, renormalize_missing=True)
    with pytest.raises(TypeError, match="unknown reward override"):
        build_reward(
            "medix-r1",
            judge=AnswerMatchJudge(FakeChatBackend()),
            embedder=CaseFoldEmbedder(),
            renormalize_missing=True,
        )


def test_mismatched_lengths_are_rejected(reward) -> None:
    with pytest.raises(RewardInputError, match="2 completions but 1 solutions"):
        reward.score(["a", "b"], ["<X_RAY> a"])

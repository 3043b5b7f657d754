"""The one policy for an unscored component (rewards/composite.py, issue 12): it adds nothing to
``overall`` and nothing is re-weighted, so a judge outage can never make a wrong answer score higher
than it does with the judge up. The table is the measurement; every engine path gives the same number."""

from __future__ import annotations

import math

import pytest

from medix_r1.embedders import HashingEmbedder
from medix_r1.judges import AnswerMatchJudge, FakeChatBackend
from medix_r1.rewards import build_reward

PUBLISHED = None  # the medix-r1 preset's weights: llm 0.5175, embed 0.3375, modality 0.045, format 0.1
QUICKSTART = {"accuracy_llm": 0.3, "accuracy_embed": 0.2, "modality": 0.4, "format": 0.1}

# (case, weights, judge-up components (llm, embed, modality, format), overall judge up, overall judge
# down under this policy, what re-weighting over the scored components gave before: the old verl/EasyR1
# meaning).
TABLE = [
    ("wrong answer, right tag, well formed", PUBLISHED, (0, 0, 1, 1), 0.145, 0.145, 0.300518),
    ("wrong answer the embedder calls close", PUBLISHED, (0, 1, 1, 1), 0.4825, 0.4825, 1.0),
    ("wrong answer, wrong tag, well formed", PUBLISHED, (0, 0, 0, 1), 0.1, 0.1, 0.207254),
    ("wrong answer, malformed", PUBLISHED, (0, 0, 0, 0), 0.0, 0.0, 0.0),
    ("right answer, every part", PUBLISHED, (1, 1, 1, 1), 1.0, 0.4825, 1.0),
    ("right answer the embedder misses", PUBLISHED, (1, 0, 1, 1), 0.6625, 0.145, 0.300518),
    ("quickstart: wrong answer, right tag", QUICKSTART, (0, 0, 1, 1), 0.5, 0.5, 0.714286),
    ("quickstart: right answer", QUICKSTART, (1, 1, 1, 1), 1.0, 0.7, 1.0),
]


def composite(weights):
    return build_reward(
        "medix-r1", judge=AnswerMatchJudge(FakeChatBackend()), embedder=HashingEmbedder(), weights=weights
    )


def reweighted(reward, row):
    scored = [c for c in reward.components if row[c.name] is not None]
    full = sum(c.weight for c in reward.components)
    kept = sum(c.weight for c in scored)
    return sum(c.weight * row[c.name] for c in scored) * full / kept


@pytest.mark.parametrize(("case", "weights", "parts", "up", "down", "old"), TABLE, ids=[t[0] for t in TABLE])
def test_an_outage_never_raises_a_wrong_answer(case, weights, parts, up, down, old):
    reward = composite(weights)
    names = ("accuracy_llm", "accuracy_embed", "modality", "format")
    judged = dict(zip(names, map(float, parts), strict=True))
    outage = {**judged, "accuracy_llm": None}
    assert reward.combine(judged) == pytest.approx(up)
    assert reward.combine(outage) == pytest.approx(down)
    assert reward.combine(outage) <= reward.combine(judged) + 1e-12  # for every answer, right or wrong
    if judged["accuracy_llm"] == 0:  # a wrong answer scores exactly what it scores with the judge up
        assert reward.combine(outage) == pytest.approx(reward.combine(judged))
    assert reweighted(reward, outage) == pytest.approx(old, abs=1e-6)  # the old rule broke this
    assert math.isnan(reward.combine({**outage, "accuracy_llm": math.nan})) is False  # NaN from engines too


def test_every_engine_combines_the_same_way() -> None:
    import torch

    from medix_r1.integrations import easyr1, verl
    from medix_r1.integrations.engine_config import engine_rows
    from medix_r1.integrations.trl import combine_rewards
    from medix_r1.rewards.config import RewardConfig, build_reward_from_config

    down = {
        "judge": "openai",
        "judge_url": "http://127.0.0.1:9/v1",
        "judge_retries": 0,
        "embedding_model": "hashing",
        "on_judge_error": "skip",
        "weights": QUICKSTART,
    }
    up = {**down, "judge": "fake"}
    sol = "<X_RAY> Left lung"
    responses = [
        "<X_RAY><thinking>x</thinking><answer>the left lung</answer>",  # right, needs the judge
        "<X_RAY><thinking>x</thinking><answer>the right kidney</answer>",  # wrong, right tag
        "<CT_SCAN><thinking>x</thinking><answer>the spleen</answer>",  # wrong, wrong tag
        "the right kidney",  # wrong, malformed
    ]
    cli_down = build_reward_from_config(RewardConfig(**down))  # what `medix-r1 reward score` builds
    cli_up = build_reward_from_config(RewardConfig(**up))
    rows_down = cli_down.score(responses, [sol] * 4)
    rows_up = cli_up.score(responses, [sol] * 4)
    assert [r["accuracy_llm"] for r in rows_down] == [None] * 4
    cli = [r["overall"] for r in rows_down]
    verl_scores = [
        r["score"] for r in verl.compute_score_batch(["s"] * 4, responses, [sol] * 4, None, **down)
    ]
    easy = [
        r["overall"]
        for r in easyr1.compute_score([{"response": x, "ground_truth": sol} for x in responses], **down)
    ]
    engine = [r["overall"] for r in engine_rows(rows_down, cli_down)]
    names = [c.name for c in cli_down.components]
    matrix = torch.tensor([[math.nan if r[n] is None else r[n] for n in names] for r in rows_down])
    trl = combine_rewards(cli_down, matrix, names).tolist()
    trl_own = (matrix * torch.tensor([c.weight for c in cli_down.components])).nansum(dim=1).tolist()
    for other in (verl_scores, easy, engine, trl, trl_own):  # trl_own: TRL's sum_then_normalize
        assert other == pytest.approx(cli)
    assert cli == pytest.approx(
        [0.5, 0.5, 0.1, 0.0]
    )  # modality 0.4 + format 0.1; the hashing embedder finds no match
    for got, want, row in zip(cli, rows_up, rows_down, strict=True):
        assert got <= want["overall"] + 1e-12
        if want["accuracy_llm"] == 0.0:
            assert got == pytest.approx(want["overall"])
        assert row["accuracy_embed"] is not None

"""DAPO dynamic filtering, on its own: which groups are kept, how TRL batches are cut and joined
(prompt padding on the left, completion padding on the right, per-image pixel rows), and the refill
loop with its try limit."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from medix_r1.training.dapo import (  # noqa: E402
    DynamicFilter,
    PromptRefill,
    concat_batches,
    group_means,
    keep_groups,
    select_rows,
)


@pytest.mark.parametrize(
    ("rewards", "kept", "why"),
    [
        ([0.0, 0.0, 0.0, 0.0], [], "all wrong: mean 0 <= 0.01"),
        ([1.0, 1.0, 1.0, 1.0], [], "all right: mean 1 >= 0.99"),
        ([0.0, 0.04, 0.0, 0.02], [0], "mean 0.02 kept; mean 0.01 dropped (the boundary is dropped)"),
        ([0.99, 0.99, 0.5, 0.5], [1], "mean 0.99 is dropped (>=), mean 0.5 kept"),
        ([0.0, float("nan"), 0.9, 0.9], [1], "an unscored rollout is left out of its group's mean"),
    ],
)
def test_keep_groups_published_thresholds(rewards, kept, why):
    assert keep_groups(torch.tensor(rewards), group_size=2, low=0.01, high=0.99) == kept, why


def test_group_means_needs_whole_groups():
    with pytest.raises(ValueError, match="do not split into groups of 4"):
        group_means(torch.zeros(6), 4)


def fake_batch(rows, prompt_width, completion_width, *, offset=0):
    """A TRL-like scored batch: row i has prompt tokens 100+i, completion tokens 200+i, one image of
    (1, 2, i+1) patches whose pixel rows hold the value i."""
    n = len(rows)
    prompt_ids = torch.zeros(n, prompt_width, dtype=torch.long)
    prompt_mask = torch.zeros(n, prompt_width, dtype=torch.long)
    completion_ids = torch.zeros(n, completion_width, dtype=torch.long)
    completion_mask = torch.zeros(n, completion_width, dtype=torch.long)
    pixel, grid = [], []
    for k, i in enumerate(rows):
        plen = 1 + (i % prompt_width)
        clen = 1 + (i % completion_width)
        prompt_ids[k, prompt_width - plen :] = 100 + i
        prompt_mask[k, prompt_width - plen :] = 1
        completion_ids[k, :clen] = 200 + i
        completion_mask[k, :clen] = 1
        grid.append([1, 2, i + 1])
        pixel.append(torch.full((2 * (i + 1), 3), float(i)))
    mm = torch.cat([prompt_mask, torch.zeros_like(completion_mask)], dim=1)
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": torch.tensor([float(i) for i in rows]),
        "num_items_in_batch": completion_mask.sum(),
        "pixel_values": torch.cat(pixel),
        "image_grid_thw": torch.tensor(grid),
        "mm_token_type_ids": mm,
        "num_images": [1] * n,
    }


def test_select_and_concat_keep_every_row_intact():
    a = fake_batch([0, 1, 2, 3], prompt_width=3, completion_width=2)
    b = fake_batch([4, 5], prompt_width=5, completion_width=4)
    joined = concat_batches([select_rows(a, [1, 3]), select_rows(b, [0, 1])])
    assert joined["advantages"].tolist() == [1.0, 3.0, 4.0, 5.0]
    assert joined["prompt_ids"].shape == (4, 5) and joined["completion_ids"].shape == (4, 4)
    # prompt padding stays on the left, completion padding on the right
    assert joined["prompt_ids"][0].tolist() == [0, 0, 0, 101, 101]
    assert joined["prompt_mask"][0].tolist() == [0, 0, 0, 1, 1]
    assert joined["completion_ids"][0].tolist() == [201, 201, 0, 0]
    assert joined["completion_ids"][3].tolist() == [205, 205, 0, 0]
    # image rows follow their sample: rows of value 1, 3, 4, 5 with 4, 8, 10, 12 patches
    values = joined["pixel_values"][:, 0].tolist()
    assert values == [1.0] * 4 + [3.0] * 8 + [4.0] * 10 + [5.0] * 12
    assert joined["image_grid_thw"].tolist() == [[1, 2, 2], [1, 2, 4], [1, 2, 5], [1, 2, 6]]
    assert joined["num_images"] == [1, 1, 1, 1]
    # mm_token_type_ids: the prompt part is re-padded on the left to width 5, completion part to width 4
    assert joined["mm_token_type_ids"].shape == (4, 9)
    assert joined["mm_token_type_ids"][0].tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0]
    assert "num_items_in_batch" not in joined


def test_select_rows_refuses_layouts_it_does_not_know():
    batch = fake_batch([0, 1], 2, 2)
    batch["image_sizes"] = torch.zeros(2, 2)
    with pytest.raises(NotImplementedError, match="image_sizes"):
        select_rows(batch, [0])


class FakeScorer:
    """Scores each row with a reward looked up from its prompt id: 'flat0' / 'flat1' groups or 'mixed'."""

    def __init__(self):
        self.calls = []
        self.last = None

    def __call__(self, inputs):
        self.calls.append([row["prompt"] for row in inputs])
        rewards = []
        for j, row in enumerate(inputs):
            kind = row["kind"]
            rewards.append({"flat0": 0.0, "flat1": 1.0}.get(kind, float(j % 2)))
        self.last = torch.tensor(rewards)
        ids = [row["id"] for row in inputs]
        return fake_batch(ids, prompt_width=3, completion_width=3)


class ListDataset:
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def repeat(rows, g):
    return [dict(r) for r in rows for _ in range(g)]


def test_filter_refills_until_the_batch_is_full():
    g = 2
    start = [{"prompt": "p0", "kind": "flat0", "id": 0}, {"prompt": "p1", "kind": "mixed", "id": 1}]
    refill_rows = [{"prompt": f"r{i}", "kind": "mixed", "id": 10 + i} for i in range(4)]
    scorer = FakeScorer()
    filt = DynamicFilter(
        group_size=g,
        low=0.01,
        high=0.99,
        refill_prompts=1,
        max_tries=5,
        refill=PromptRefill(ListDataset(refill_rows), seed=0),
    )
    batch, stats = filt(repeat(start, g), scorer, lambda: scorer.last)
    # one flat group dropped, one refill of one prompt fills the gap
    assert (stats.tries, stats.groups_seen, stats.groups_kept, stats.short) == (1, 3, 2, False)
    assert len(scorer.calls) == 2 and len(scorer.calls[1]) == g
    assert batch["advantages"].shape == (4,)
    assert batch["advantages"][:2].tolist() == [1.0, 1.0]  # the kept original group (id 1) comes first
    assert stats.as_metrics()["dapo/kept_fraction"] == pytest.approx(2 / 3)


def test_filter_gives_up_after_max_tries_and_tops_up_with_flat_groups():
    g = 2
    start = [{"prompt": "p0", "kind": "flat0", "id": 0}, {"prompt": "p1", "kind": "flat1", "id": 1}]
    flat = [{"prompt": "f", "kind": "flat1", "id": 7}]
    scorer = FakeScorer()
    filt = DynamicFilter(
        group_size=g,
        low=0.01,
        high=0.99,
        refill_prompts=2,
        max_tries=2,
        refill=PromptRefill(ListDataset(flat), seed=0),
    )
    batch, stats = filt(repeat(start, g), scorer, lambda: scorer.last)
    assert (stats.tries, stats.groups_kept, stats.short) == (2, 0, True)
    assert len(scorer.calls) == 3  # the batch itself, then two refills
    assert batch["advantages"].shape == (4,)
    assert stats.as_metrics()["dapo/short_batch"] == 1.0


def test_prompt_refill_is_seeded_and_cycles():
    data = ListDataset([{"i": i} for i in range(3)])
    a = [r["i"] for r in PromptRefill(data, seed=3).take(7)]
    b = [r["i"] for r in PromptRefill(data, seed=3).take(7)]
    assert a == b and sorted(a[:3]) == [0, 1, 2] and sorted(a[3:6]) == [0, 1, 2]

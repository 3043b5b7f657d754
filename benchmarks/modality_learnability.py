"""How fast can the quickstart policy learn which modality tag fits which image? A diagnostic.

    python benchmarks/modality_learnability.py [--steps 100] [--prompts 8] [--group 8] [--lrs 1e-3,3e-4]
                                               [--betas 0,0.3]

The quickstart (issue 4) must lift held-out modality tag accuracy to 0.6 through the reward. This
script separates "can the model tell the modalities apart" from "can a reward teach it" on the same
tiny policy, the same bundled samples and the same warm-start (random tags) as the quickstart:

  probe       a linear classifier on the mean-pooled vision features of the untrained policy
              (full supervision; an upper bound on what the features carry)
  supervised  the policy trained with cross-entropy on the true tag's tokens (teacher-forced)
  reward      the idealised RL case: for each prompt the policy's probability of opening its reply
              with each of the 7 tags (teacher-forced, the product of the tag's token
              probabilities) plus an 8th outcome, "anything else"; `group` outcomes sampled from it,
              reward 1 for the true tag, group-normalised advantages (GRPO), policy gradient on the
              sampled outcome's log-probability; with beta > 0 plus TRL's KL term (the k3 estimate
              on the sampled outcomes) towards the warm-started policy. No answer tokens and no
              other reward components: real RL is noisier.

Each row reports held-out and training tag accuracy of greedy replies (the quickstart's held-out
measure: the reply must open with the true tag) and the wall time;
the last lines give the ratios reward / supervised measured in this run. CPU only, several minutes
(about 6 on an idle 2-core machine): progress lines on stderr say which phase runs, each training
run's step every 10 steps, and the time so far, so a long run is never silent.
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _encode(processor, rows, suffixes):
    from medix_r1.models.generation import row_prompt

    texts, images = [], []
    for row, suffix in zip(rows, suffixes, strict=True):
        prompt, row_images = row_prompt(processor, row)
        texts.append(prompt + suffix)
        images.append(row_images)
    return processor(text=texts, images=images, return_tensors="pt", padding=True, add_special_tokens=False)


class TagScorer:
    """Teacher-forced log-probability of each candidate tag as the opening of the reply."""

    def __init__(self, processor, tags):
        self.processor, self.tags = processor, list(tags)
        tokenizer = processor.tokenizer
        tokenizer.padding_side = "left"
        self.lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in self.tags]

    def __call__(self, model, rows):
        import torch

        n_tags = len(self.tags)
        enc = _encode(
            self.processor, [r for r in rows for _ in self.tags], [t for _ in rows for t in self.tags]
        )
        keep = max(self.lengths) + 1
        logits = model(**enc, logits_to_keep=keep).logits[:, :-1].float().log_softmax(-1)
        ids = enc["input_ids"][:, -keep + 1 :]
        token_lp = logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        mask = torch.zeros_like(token_lp)
        for i in range(len(rows) * n_tags):
            mask[i, -self.lengths[i % n_tags] :] = 1
        return (token_lp * mask).sum(-1).view(len(rows), n_tags)

    @staticmethod
    def outcomes(scores):
        """Log-probabilities of the 7 tags and of "anything else" (a malformed or other opening).

        Renormalising over the 7 tags alone would let a policy gain by spoiling the continuations of
        wrong tags (a distribution greedy decoding never follows), so the rest keeps its mass.
        """
        import torch

        total = torch.logsumexp(scores, -1, keepdim=True).clamp(max=-1e-6)
        other = torch.log(-torch.expm1(total))
        return torch.cat([scores, other], -1)

    def accuracy(self, model, rows, max_new_tokens=12):
        """Share of greedy replies that open with the row's tag (what generation does, not an argmax)."""
        from medix_r1.models.generation import generate_batch

        was = model.training
        model.eval()
        replies = generate_batch(model, self.processor, rows, max_new_tokens=max_new_tokens)
        model.train(was)
        return sum(
            reply.strip().startswith(r["modality"]) for reply, r in zip(replies, rows, strict=True)
        ) / len(rows)


def linear_probe(model, processor, train_rows, test_rows, tags):
    """Held-out accuracy of a linear classifier on mean-pooled vision features (full supervision)."""
    import torch

    def features(rows):
        out = []
        with torch.no_grad():
            for i in range(0, len(rows), 32):
                chunk = rows[i : i + 32]
                enc = processor.image_processor(images=[r["images"][0] for r in chunk], return_tensors="pt")
                v = model.model.visual(enc["pixel_values"], grid_thw=enc["image_grid_thw"])
                v = getattr(v, "pooler_output", v)
                sizes = (enc["image_grid_thw"].prod(-1) // 4).tolist()
                out.extend(part.mean(0) for part in torch.split(v, sizes))
        return torch.stack(out)

    x_train, x_test = features(train_rows), features(test_rows)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    y_train = torch.tensor([tags.index(r["modality"]) for r in train_rows])
    y_test = torch.tensor([tags.index(r["modality"]) for r in test_rows])
    w = torch.zeros(x_train.shape[1], len(tags), requires_grad=True)
    b = torch.zeros(len(tags), requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=0.05)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(x_train @ w + b, y_train) + 1e-2 * (w**2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        train_acc = ((x_train @ w + b).argmax(1) == y_train).float().mean().item()
        test_acc = ((x_test @ w + b).argmax(1) == y_test).float().mean().item()
    return train_acc, test_acc


_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """One line on stderr with the time since the start (the table itself goes to stdout)."""
    print(f"[{time.perf_counter() - _STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


def train_tags(model, scorer, rows, *, mode, steps, prompts, group, lr, seed, beta=0.0, label=""):
    """Train ``model`` in place on the tag choice: ``mode`` is ``supervised`` or ``reward``; ``beta``
    weighs a KL term towards ``model`` as it is on entry (as TRL's reference)."""
    import torch

    ref = copy.deepcopy(model).eval() if beta else None

    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    tags = scorer.tags
    for step in range(steps):
        if label and step and step % 10 == 0:
            progress(f"  {label}: step {step}/{steps}")
        batch = rng.sample(rows, prompts)
        scores = scorer(model, batch)
        log_p = scorer.outcomes(scores)
        truth = torch.tensor([tags.index(r["modality"]) for r in batch])
        if mode == "supervised":
            loss = -scores.gather(1, truth[:, None]).mean()
        else:
            picks = torch.multinomial(log_p.exp().detach(), group, replacement=True, generator=gen)
            reward = (picks == truth[:, None]).float()
            adv = (reward - reward.mean(1, keepdim=True)) / (reward.std(1, keepdim=True) + 1e-4)
            loss = -(adv * log_p.gather(1, picks)).mean()
            if ref is not None:
                with torch.no_grad():
                    ref_log_p = scorer.outcomes(scorer(ref, batch)).gather(1, picks)
                delta = ref_log_p - log_p.gather(1, picks)
                loss = loss + beta * (delta.exp() - delta - 1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100, help="RL steps (the quickstart runs 100)")
    parser.add_argument("--supervised-steps", type=int, default=50)
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step (quickstart: 8)")
    parser.add_argument("--group", type=int, default=8, help="sampled tags per prompt (quickstart: 8)")
    parser.add_argument("--lrs", default="1e-3,3e-4", help="learning rates of the reward rows")
    parser.add_argument(
        "--betas", default="0,0.3", help="KL coefficients of the reward rows (each lr x beta)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from medix_r1.models import load_policy
    from medix_r1.training.dataset import build_rl_dataset, load_training_records
    from medix_r1.training.presets import get_preset
    from medix_r1.training.trl_backend import build_composite
    from medix_r1.training.warmstart import run_configured_warmstart

    torch.manual_seed(args.seed)
    progress("loading the sample records and the quickstart policy")
    config = get_preset("quickstart")
    fmt = build_composite(config).fmt
    opts = {
        "template": config.prompt.template,
        "system": config.prompt.system,
        "image_max_side": config.data.image_max_side,
    }
    train_rows = [dict(r) for r in build_rl_dataset(load_training_records("samples"), fmt, **opts)]
    test_rows = [dict(r) for r in build_rl_dataset(load_training_records("samples:test"), fmt, **opts)]
    tags = sorted({r["modality"] for r in train_rows})
    model, processor = load_policy(
        config.model.name,
        dtype="float32",
        device="cpu",
        min_pixels=config.model.min_pixels,
        max_pixels=config.model.max_pixels,
    )
    scorer = TagScorer(processor, tags)
    train_eval = train_rows[::3]
    majority = max(sum(r["modality"] == t for r in test_rows) for t in tags) / len(test_rows)
    rows: list[tuple[str, str, float, float, float]] = []

    progress("linear probe on the vision features")
    started = time.perf_counter()
    probe_train, probe_test = linear_probe(model, processor, train_rows, test_rows, tags)
    rows.append(
        ("probe (vision features, untrained)", "-", probe_train, probe_test, time.perf_counter() - started)
    )

    ws = config.warmstart
    progress(f"warm-start ({ws.steps} steps, random tags)")
    started = time.perf_counter()
    run_configured_warmstart(model, processor, train_rows, fmt, ws, seed=args.seed, progress=True)
    rows.append(
        (
            f"warm-start ({ws.steps} steps, random tags)",
            "-",
            scorer.accuracy(model, train_eval),
            scorer.accuracy(model, test_rows),
            time.perf_counter() - started,
        )
    )
    start_state = copy.deepcopy(model.state_dict())

    runs = [("supervised", args.supervised_steps, 1e-3, 0.0)]
    betas = [float(b) for b in args.betas.split(",") if b.strip()] or [0.0]
    runs += [
        ("reward", args.steps, float(lr), beta) for beta in betas for lr in args.lrs.split(",") if lr.strip()
    ]
    held_out: list[tuple[str, float, float, float]] = []  # (mode, lr, beta, held-out accuracy)
    for k, (mode, steps, lr, beta) in enumerate(runs, 1):
        name = f"{mode} lr {lr:g}" + (f" KL {beta:g}" if beta else "")
        progress(f"run {k}/{len(runs)}: {name}, {steps} steps")
        model.load_state_dict(start_state)
        started = time.perf_counter()
        train_tags(
            model,
            scorer,
            train_rows,
            mode=mode,
            steps=steps,
            prompts=args.prompts,
            group=args.group,
            lr=lr,
            seed=args.seed,
            beta=beta,
            label=name,
        )
        progress(f"  {name}: scoring greedy replies")
        held = scorer.accuracy(model, test_rows)
        label = f"{mode} ({steps} steps x {args.prompts} prompts" + (
            f" x {args.group}{f', KL {beta:g}' if beta else ''})" if mode == "reward" else ")"
        )
        rows.append(
            (label, f"{lr:g}", scorer.accuracy(model, train_eval), held, time.perf_counter() - started)
        )
        held_out.append((mode, lr, beta, held))

    print(
        f"modality learnability: {len(train_rows)} train / {len(test_rows)} held-out records, {len(tags)} tags; "
        f"held-out majority tag = {majority:.3f}"
    )
    print("| method | lr | train acc | held-out acc | seconds |")
    print("|---|---|---|---|---|")
    for label, lr, train_acc, test_acc, seconds in rows:
        print(f"| {label} | {lr} | {train_acc:.3f} | {test_acc:.3f} | {seconds:.1f} |")
    supervised = held_out[0][3]
    for mode, lr, beta, value in held_out[1:]:
        versus = f"{value / supervised:.2f}x supervised" if supervised else "supervised scored 0"
        print(
            f"{mode} lr {lr:g} KL {beta:g}: held-out {value:.3f} = {versus}, {value / majority:.2f}x majority tag"
        )


if __name__ == "__main__":
    main()

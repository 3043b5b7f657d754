"""Run the published evaluation harness and ours on the parity suite, with one mock server playing both
the candidate and the judge, and compare them request by request (issue 14).

    python tests/evaluation/compare_published.py --published-eval /tmp/pubeval/eval --work /tmp/parity

``--published-eval`` is the ``eval/`` folder of a checkout of the published MediX-R1 repository
(CC-BY-NC-SA: fetched for local runs, never committed here). It runs unchanged except for three
patches applied from outside, in memory: no ``vllm serve`` start / stop, and no ``wget`` (the suite's
image files are already where the published loader looks). The mock listens on 127.0.0.1:8005, the
published harness's fixed URL, so nothing else needs patching.

Compared: every candidate request (the ``messages`` JSON byte for byte, and the whole body), every
judge input (question, reference and candidate as the judge prompt shows them), every verdict, every
task score and the overall. Exits 1 on any difference and prints them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("parity_suite", HERE / "parity_suite.py")
suite_mod = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(suite_mod)  # type: ignore[union-attr]

_WRAPPER = """
import os, sys
sys.path.insert(0, {eval_dir!r})
import utils
utils.start_vllm_server = lambda *a, **k: None       # the mock is already listening on :8005
utils.kill_server_process = lambda *a, **k: None
os.system = lambda cmd: 1                            # no wget: the images are in ./tmp already
sys.argv = ["eval.py"] + {args!r}
import eval as published_eval
published_eval.main()
"""


class Recorder:
    """The loopback server with every request body recorded, tagged with the current run."""

    def __init__(self, port: int) -> None:
        from medix_r1.testing.loopback import LoopbackChatServer

        self.run = "?"
        self.log: list[dict[str, Any]] = []
        recorder = self

        class _Server(LoopbackChatServer):
            async def _respond(self, method: str, path: str, raw: bytes) -> tuple[int, bytes, str]:
                try:
                    body = json.loads(raw)
                    recorder.log.append({"run": recorder.run, "raw": raw, "body": body})
                except ValueError:
                    pass
                return await super()._respond(method, path, raw)

        self.server = _Server(suite_mod.mock_reply, port=port)


def run_published(eval_dir: Path, work: Path, python: str) -> None:
    args = [
        "--tasks", "all", "--config", "tasks.yaml", "--output_dir", "published",
        "--model", suite_mod.CANDIDATE_MODEL, "--eval_model", suite_mod.JUDGE_MODEL,
        "--generate", "True", "--evaluate", "True", "--score", "True",
    ]  # fmt: skip
    script = _WRAPPER.format(eval_dir=str(eval_dir), args=args)
    proc = subprocess.run([python, "-c", script], cwd=work, capture_output=True, text=True, timeout=900)
    (work / "published.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"published harness failed (rc {proc.returncode}); see {work / 'published.log'}")


def run_ours(work: Path, python: str, extra: list[str]) -> None:
    url = "http://127.0.0.1:8005/v1"
    cmd = [
        str(Path(python).with_name("medix-r1")), "eval", "run", "--model", suite_mod.CANDIDATE_MODEL,
        "--tasks", "tasks.yaml", "--out", "ours", "--base-url", url, "--judge-url", url,
        "--judge-model", suite_mod.JUDGE_MODEL, "--no-report", *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=900)
    (work / "ours.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"our harness failed (rc {proc.returncode}); see {work / 'ours.log'}")


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())}


def _published_scores(path: Path) -> dict[str, float]:
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\d+\s+(\S+)\s+(\S+)\s+(\S+)%$", line.strip())
        if m:
            task, acc, _ = m.groups()
            out[task] = float(acc) / (100 if task == "Overall" else 1)  # published Overall is in percent
    return out


def compare(work: Path, log: list[dict[str, Any]]) -> list[str]:
    diffs: list[str] = []
    model_dir = re.sub(r"[^a-zA-Z0-9]", "_", suite_mod.CANDIDATE_MODEL.split("/")[-1])
    pub_eval = _rows(work / "published" / model_dir / f"{model_dir}_eval.jsonl")
    our_eval = _rows(work / "ours" / model_dir / f"{model_dir}_eval.jsonl")
    lines = []
    if set(pub_eval) != set(our_eval):
        diffs.append(
            f"sample ids differ: only published {sorted(set(pub_eval) - set(our_eval))}, only ours "
            f"{sorted(set(our_eval) - set(pub_eval))}"
        )

    # candidate requests, keyed by the user text (+ image) they carry, in order per run
    cand: dict[str, list[dict[str, Any]]] = defaultdict(list)
    judge_first: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    bodies_same = 0
    for entry in log:
        body = entry["body"]
        if body.get("model") == suite_mod.JUDGE_MODEL:
            if sum(1 for m in body["messages"] if m["role"] == "assistant") == 0:
                judge_first[entry["run"]].append(suite_mod.judge_view(body["messages"]))
        else:
            cand[entry["run"]].append(entry)

    # Paired in a canonical order, so our run may have any number of samples in flight.
    def canonical(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(entries, key=lambda e: json.dumps(e["body"]["messages"], ensure_ascii=False))

    pub_c, our_c = canonical(cand["published"]), canonical(cand["ours"])
    if len(pub_c) != len(our_c):
        diffs.append(f"candidate requests: published {len(pub_c)}, ours {len(our_c)}")
    msg_same = 0
    for i, (p, o) in enumerate(zip(pub_c, our_c, strict=False)):
        pm = json.dumps(p["body"]["messages"], ensure_ascii=False)
        om = json.dumps(o["body"]["messages"], ensure_ascii=False)
        if pm == om:
            msg_same += 1
        else:
            diffs.append(
                f"candidate request {i}: messages differ\n  published {pm[:300]}\n  ours      {om[:300]}"
            )
        pb = {k: v for k, v in p["body"].items() if k != "messages"}
        ob = {k: v for k, v in o["body"].items() if k != "messages"}
        if pb == ob:
            bodies_same += 1
        else:
            diffs.append(f"candidate request {i}: other fields differ: published {pb}, ours {ob}")
    lines.append(
        f"candidate requests: {len(pub_c)} published, {len(our_c)} ours; messages identical "
        f"{msg_same}; other body fields identical {bodies_same}; raw bytes identical "
        f"{sum(p['raw'] == o['raw'] for p, o in zip(pub_c, our_c, strict=False))}"
    )

    pj, oj = sorted(judge_first["published"]), sorted(judge_first["ours"])
    same_j = sum(1 for a, b in zip(pj, oj, strict=False) if a == b)
    lines.append(
        f"judge conversations: {len(pj)} published, {len(oj)} ours; judge input (grading, question, "
        f"reference, candidate) identical {same_j}"
    )
    for i, (a, b) in enumerate(zip(pj, oj, strict=False)):
        if a != b:
            diffs.append(f"judge input {i} differs:\n  published {a!r}\n  ours      {b!r}")
    if len(pj) != len(oj):
        diffs.append("judge conversation counts differ")

    same_v = 0
    for sid in pub_eval:
        if sid not in our_eval:
            continue
        p, o = pub_eval[sid], our_eval[sid]
        for key in ("question", "answer", "response"):
            if p[key] != o[key]:
                diffs.append(f"{sid}: {key} differs: published {p[key]!r}, ours {o[key]!r}")
        ps, os_ = p["evaluation"]["score"], o["evaluation"]["score"]
        if os_ is not None and float(ps) == float(os_):
            same_v += 1
        else:
            diffs.append(
                f"{sid}: verdict published {ps!r}, ours {os_!r} (rounds {o['evaluation'].get('rounds')})"
            )
    lines.append(f"verdicts: {same_v} of {len(pub_eval)} identical")

    pub_scores = _published_scores(work / "published" / model_dir / f"{model_dir}_score.txt")
    ours = json.loads((work / "ours" / model_dir / "scores.json").read_text())
    table = ["| task | published | ours |", "|---|---|---|"]
    for task, value in pub_scores.items():
        mine = ours["overall"] if task == "Overall" else ours["tasks"].get(task)
        table.append(f"| {task} | {value:.6f} | {'n/a' if mine is None else f'{mine:.6f}'} |")
        if mine is None or abs(mine - value) > 5e-7 / (
            100 if task == "Overall" else 1
        ):  # the published table prints six decimals
            diffs.append(f"score {task}: published {value}, ours {mine}")
    lines.append("\n".join(table))
    pub_txt = (work / "published" / model_dir / f"{model_dir}_score.txt").read_bytes()
    our_txt = (work / "ours" / model_dir / f"{model_dir}_score.txt").read_bytes()
    lines.append(f"score file {model_dir}_score.txt byte-identical: {pub_txt == our_txt}")
    if pub_txt != our_txt:
        diffs.append(f"score files differ:\n{pub_txt.decode()}\n---\n{our_txt.decode()}")
    print("\n".join(lines))
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published-eval", type=Path, required=True, help="the published eval/ folder")
    parser.add_argument("--work", type=Path, default=Path("/tmp/medix-parity"))
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--image-dir-keys",
        action="store_true",
        help="also write our `image_dir:` key into the SLAKE and MIMIC entries (the published loader ignores it)",
    )
    parser.add_argument("ours_args", nargs="*", help="extra options for `medix-r1 eval run`")
    args = parser.parse_args(argv)
    if args.work.exists():
        shutil.rmtree(args.work)
    yaml_path = suite_mod.build_suite(args.work)
    if args.image_dir_keys:
        text = yaml_path.read_text()
        for task, folder in (
            ("slake_vqa", "tmp/slake/imgs"),
            ("mimic_cxr_report_generation", "tmp/mimic"),
            ("notes_mimic_style", "tmp/mimic"),
        ):
            text = text.replace(f"  {task}:\n", f"  {task}:\n    image_dir: {folder}\n")
        yaml_path.write_text(text)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    rec = Recorder(8005)
    with rec.server:
        rec.run = "published"
        run_published(args.published_eval.resolve(), args.work, args.python)
        rec.run = "ours"
        run_ours(args.work, args.python, args.ours_args)
    diffs = compare(args.work, rec.log)
    print(f"\n{len(diffs)} difference(s)")
    for d in diffs:
        print("-", d)
    return 1 if diffs else 0


if __name__ == "__main__":
    raise SystemExit(main())

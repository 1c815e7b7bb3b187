"""Rebuilds models/prompt-guard: data (sources.py), teacher, pruned vocabulary, student
training, ONNX export, int8 weights, threshold, parity fixture, held-out sets and manifest.
The teacher, student, export and evaluation code is spam-mini's (models/spam-mini/scripts):
the two bundles are built the same way from different data.

    python build.py --teacher DIR [--pi DIR --ml DIR --packages DIR] [--out ..] [--cache DIR]
"""

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "spam-mini" / "scripts"))

import evaluate  # noqa: E402  (spam-mini's)
import export  # noqa: E402
import student as student_mod  # noqa: E402
import teacher as teacher_mod  # noqa: E402
import vocab  # noqa: E402

import sources  # noqa: E402

SEED = 7
LABELS = ["benign", "attack"]
# The shipped configuration; spam-mini's network. `attack_repeat`: how many times each
# training attack appears (attacks are 7% of the rows). `views`: also train on the first
# 1-2 sentences of each attack (what a short injection looks like). `threshold`: the one
# model selection uses; the shipped one is chosen on validation (`false_alarm_target`).
# `diluted`: extra copies of training prompts (half attacks, half benign) with benign
# training prompts put before or after them (or both), each keeping its original's
# labels: benign text around an injection must not turn it benign (1.0.0 was trained
# without them; see the card).
CONFIG = dict(vocab=8192, width=128, layers=2, heads=4, hidden=512, max_tokens=256,
              epochs=6, lr=2e-3, alpha=0.5, attack_repeat=4, views=1, threshold=0.8,
              threads=2, false_alarm_target=0.01, max_unknown_share=0.3, diluted=4000, ternary=0)
VERSION = "1.1.0"
# `ternary`: 1 trains the matmul weights and token embeddings ternary (spam-mini's
# student.py, BitNet b1.58 style) and writes the bundle prompt-guard-ternary
# (models/prompt-guard-ternary/README.md) instead.
TERNARY = ("prompt-guard-ternary", "1.0.0")
SENTENCE_END = re.compile(r"(?<=[.!?:])\s+")


def first_sentences(text: str, count: int) -> str:
    return " ".join(SENTENCE_END.split(text.strip())[:count])


def surround(text: str, before: list[str], after: list[str]) -> str:
    """`text` with benign prompts before and after it, one space apart: how an injection
    arrives inside a longer message, or a user's question beside another."""
    return " ".join(before + [text] + after)


def pick_around(rng, pool: list[str]) -> tuple[list[str], list[str]]:
    """One or two prompts from `pool` before the text, after it, or both (each a third)."""
    where = int(rng.integers(3))
    take = lambda: [pool[int(i)] for i in rng.integers(len(pool), size=int(rng.integers(1, 3)))]  # noqa: E731
    return (take() if where != 1 else []), (take() if where != 0 else [])


def diluted_heldout(test, seed: int) -> list:
    """The card's dilution rows: each held-out English attack of at most 30 words with two
    held-out TREC questions before it, and with two after it; and, as the control, each
    held-out English benign prompt of at most 30 words with two TREC questions before it.
    Everything here is from the test split, so none of it was trained on."""
    rng = np.random.default_rng(seed)
    questions = [p.text for p in test if p.source == "trec"]
    short = lambda p: p.lang == "en" and len(p.text.split()) <= 30  # noqa: E731
    two = lambda: [questions[int(i)] for i in rng.choice(len(questions), 2, replace=False)]  # noqa: E731
    rows = []
    for p in test:
        if not short(p) or p.source == "trec":
            continue
        if p.label == 1:
            rows.append(sources.Prompt(surround(p.text, two(), []), 1, "diluted: 2 TREC questions before", p.group))
            rows.append(sources.Prompt(surround(p.text, [], two()), 1, "diluted: 2 TREC questions after", p.group))
        else:
            rows.append(sources.Prompt(surround(p.text, two(), []), 0, "diluted: 2 TREC questions before", p.group))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True, help="unzipped all-MiniLM-L6-v2 directory")
    parser.add_argument("--pi", type=Path, default=sources.DEFAULT_PI)
    parser.add_argument("--ml", type=Path, default=sources.DEFAULT_ML)
    parser.add_argument("--packages", type=Path, default=sources.DEFAULT_PACKAGES)
    parser.add_argument("--out", type=Path, default=HERE.parent)
    parser.add_argument("--cache", type=Path, default=None, help="work directory (default OUT/build)")
    for key, value in CONFIG.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    cfg = {k: getattr(args, k) for k in CONFIG}
    cache = args.cache or args.out / "build"
    cache.mkdir(parents=True, exist_ok=True)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(cfg["threads"])
    rng = np.random.default_rng(SEED)
    started = time.time()

    splits = sources.load(args.pi, args.ml, args.packages, SEED)
    print(json.dumps(splits.summary())[:3000])
    # Training rows: every training prompt, plus the opening sentences of each attack. Benign
    # text in a language no attack is in is taught "cannot know" (0.5, no hard label), as in
    # spam-mini: the model has never seen an attack in those languages.
    attack_langs = {p.lang for p in splits.train if p.label == 1}
    rows = [(p.text, p.label, p.group, p.lang in attack_langs) for p in splits.train]
    if cfg["views"]:
        for p in splits.train:
            view = first_sentences(p.text, int(rng.integers(1, 3)))
            if p.label == 1 and view != p.text and len(view.split()) >= 4:
                rows.append((view, 1, p.group, True))
    val = splits.val
    val_texts, val_y = [p.text for p in val], np.array([p.label for p in val])
    print(f"training rows {len(rows)} ({sum(r[1] for r in rows)} attacks, "
          f"{sum(not r[3] for r in rows)} without a label), validation {len(val)}")

    # Teacher: MiniLM embeddings + logistic regression, averaged with TF-IDF + logistic
    # regression; out-of-fold by group.
    taught = [r for r in rows if r[3]]
    texts = dict(train=[r[0] for r in taught], val=val_texts)
    labels = np.array([r[1] for r in taught])
    groups = np.array([r[2] for r in taught])
    soft, teacher_p = teacher_mod.ensemble(args.teacher, texts, labels, groups, cfg["max_tokens"], cache, SEED)
    teacher_val = teacher_p["val"]
    teacher_scores = evaluate.metrics(val_y, teacher_val)
    print("teacher (validation)", json.dumps(teacher_scores))
    row_soft = np.full(len(rows), 0.5, dtype=np.float32)
    labelled = [i for i, r in enumerate(rows) if r[3]]  # rows with a hard label
    row_soft[labelled] = soft
    row_weight = np.array([1.0 if r[3] else 0.0 for r in rows], dtype=np.float32)
    row_label = np.array([r[1] for r in rows])

    # Student vocabulary: the teacher's WordPiece, pruned to what the training texts use.
    teacher_json = json.loads((args.teacher / "tokenizer.json").read_text())
    pruned, teacher_ids = vocab.prune(teacher_json, [r[0] for r in rows], cfg["vocab"])
    args.out.mkdir(parents=True, exist_ok=True)
    tokenizer_path = args.out / "tokenizer.json"
    tokenizer_path.write_text(json.dumps(pruned, ensure_ascii=False, separators=(",", ":")))
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(cfg["max_tokens"])
    encode = lambda texts: [e.ids for e in tokenizer.encode_batch(texts)]
    train_ids = encode([r[0] for r in rows])
    val_ids = encode(val_texts)

    repeat = [i for i, r in enumerate(rows) if r[1] == 1] * (cfg["attack_repeat"] - 1)
    train_ids += [train_ids[i] for i in repeat]
    row_label = np.concatenate([row_label, row_label[repeat]])
    row_soft = np.concatenate([row_soft, row_soft[repeat]])
    row_weight = np.concatenate([row_weight, row_weight[repeat]])

    # Diluted copies: benign labelled training prompts around a labelled training prompt keep
    # its label (an attack stays an attack with a question beside it; two questions stay benign).
    if cfg["diluted"]:
        around = [rows[i][0] for i in labelled if rows[i][1] == 0 and len(rows[i][0].split()) <= 60]
        chosen = []
        for label in (1, 0):
            pool = [i for i in labelled if rows[i][1] == label]
            chosen += [int(i) for i in rng.choice(pool, cfg["diluted"] // 2, replace=len(pool) < cfg["diluted"] // 2)]
        train_ids += encode([surround(rows[i][0], *pick_around(rng, around)) for i in chosen])
        row_label = np.concatenate([row_label, row_label[chosen]])
        row_soft = np.concatenate([row_soft, row_soft[chosen]])
        row_weight = np.concatenate([row_weight, row_weight[chosen]])

    teacher_table = load_file(str(args.teacher / "model.safetensors"))
    table_key = next(k for k in teacher_table if k.endswith("word_embeddings.weight"))
    net = student_mod.Student(len(teacher_ids), cfg["width"], cfg["layers"], cfg["heads"],
                              cfg["hidden"], cfg["max_tokens"], ternary=bool(cfg["ternary"]))
    student_mod.init_embeddings(net, teacher_table[table_key][teacher_ids], SEED)

    def validation_score(model):
        # Mean of F1 at the threshold and the share of benign prompts not flagged.
        p = student_mod.predict(model, val_ids)
        flagged = p >= cfg["threshold"]
        tp = int((flagged & (val_y == 1)).sum())
        f1 = 2 * tp / max(1, int(flagged.sum()) + int((val_y == 1).sum()))
        false_alarms = flagged[val_y == 0].mean()
        print(f"  validation: F1 at {cfg['threshold']} {f1:.4f}, benign flagged {false_alarms:.4f}")
        return float((f1 + 1 - false_alarms) / 2)

    best_val = student_mod.train(net, train_ids, row_label, row_soft, cfg["alpha"], cfg["epochs"],
                                 cfg["lr"], SEED, validation_score, row_weight)
    student_mod.bake(net)
    bundle_name, version = TERNARY if cfg["ternary"] else ("prompt-guard", VERSION)

    p = student_mod.predict(net, val_ids)
    sweep = [dict(threshold=round(t, 2), attacks_caught=float((p[val_y == 1] >= t).mean()),
                  benign_flagged=float((p[val_y == 0] >= t).mean()))
             for t in np.arange(0.5, 0.951, 0.05)]
    threshold = next((r["threshold"] for r in sweep if r["benign_flagged"] <= cfg["false_alarm_target"]), 0.95)
    print("threshold sweep (validation)", json.dumps(sweep), f"chosen {threshold}")

    fp32_path, int8_path = cache / f"{bundle_name}.fp32.onnx", args.out / "model.onnx"
    export.export(net, fp32_path)
    quantized = export.quantize_weights(fp32_path, int8_path, ternary=bool(cfg["ternary"]))
    results = {}
    for name, path in (("fp32", fp32_path), ("int8", int8_path)):
        sess = export.session(path)
        results[name] = dict(validation=evaluate.metrics(val_y, evaluate.spam_probability(sess, val_ids)),
                             bytes=path.stat().st_size)
    print(json.dumps(results, indent=1))

    # Parity fixture: held-out prompts (test split) and short ones in other scripts.
    test = splits.test
    others = [p for p in test if p.lang not in ("en",)]
    extra = [(p.text, LABELS[p.label]) for p in others[:: max(1, len(others) // 8)][:8]]
    evaluate.write_parity(int8_path, tokenizer, test, cfg["max_tokens"], args.out / "parity.json",
                          extra, labels=LABELS)
    # Held-out prompts as JSON lines, for `cargo run --example heldout_eval` (the card).
    sources.write_jsonl(test, cache / "heldout" / "test.jsonl")
    sources.write_jsonl(diluted_heldout(test, SEED), cache / "heldout" / "diluted.jsonl")

    evaluate.write_manifest(args.out, bundle_name, version, LABELS, cfg, threshold, ["attack"],
                            int8_path, tokenizer_path)
    report = dict(
        config=cfg, seed=SEED, data=splits.summary(),
        training=dict(rows=len(train_ids), attacks=int(row_label.sum()), without_label=int((row_weight == 0).sum())),
        teacher_validation=teacher_scores, student_best_validation_score=best_val,
        quantized_tensors=quantized, threshold=dict(chosen=threshold, validation_sweep=sweep),
        onnxruntime=results)
    evaluate.write_report(args.out, report, net, started, ("onnxruntime", "threshold"))


if __name__ == "__main__":
    main()

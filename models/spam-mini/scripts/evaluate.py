"""Metrics, and the parity fixture (real held-out texts, their token ids, onnxruntime's logits)
that the Rust tests compare tract against. build.py calls it after training; run it alone
to re-score a shipped model on the held-out emails and SMS with onnxruntime:

    python evaluate.py --corpus DIR --packages DIR [--model-dir ..]

The model card's tables come from `cargo run --example heldout_eval` instead, which
answers as a worker does (windows, threshold).
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score
from tokenizers import Tokenizer

import export
import heldout

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


def write_manifest(out_dir, name, version, labels, cfg, threshold, severe, model_path, tokenizer_path):
    """Writes a classifier bundle's `manifest.json` (the format `shared/src/manifest.rs`
    reads): one mean-pooled 2-label graph, `threshold` and `cfg`'s `max_tokens` and
    `max_unknown_share`, windows with `severe` labels, the files' sha256s."""
    manifest = dict(
        name=name, version=version, task="classify", format="onnx", labels=list(labels),
        inputs=dict(input_ids="input_ids"), output=dict(name="logits", activation="softmax"),
        max_tokens=cfg["max_tokens"], processing=dict(pooling="mean"), threshold=threshold,
        max_unknown_share=cfg["max_unknown_share"], windows=dict(severe=list(severe), short_tokens=48),
        files=dict(model=dict(path=Path(model_path).name, sha256=sha256(model_path)),
                   tokenizer=dict(path=Path(tokenizer_path).name, sha256=sha256(tokenizer_path))))
    (Path(out_dir) / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def write_report(out_dir, report, net, started, summary_keys):
    """Writes `metrics.json`: `report` plus the parameter count, library versions and build
    seconds; prints the `summary_keys` part."""
    import platform
    import time

    import onnxruntime

    report = dict(report, parameters=sum(p.numel() for p in net.parameters()),
                  versions=dict(python=platform.python_version(), torch=torch.__version__,
                                onnxruntime=onnxruntime.__version__),
                  seconds=round(time.time() - started))
    (Path(out_dir) / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in (*summary_keys, "parameters", "seconds")}, indent=1))


def write_parity(model_path, tokenizer, test, max_tokens, out_path, extra=(), labels=("ham", "spam")):
    """Records onnxruntime's logits for PARITY_TEXTS real held-out texts (anything with
    `.text` and a 0/1 `.label`, named by `labels`) and every `(text, label)` of `extra`
    (short texts in other scripts)."""
    rng = np.random.default_rng(PARITY_SEED)
    chosen = sorted(rng.choice(len(test), PARITY_TEXTS, replace=False).tolist())
    texts = [(test[i].text[:1500], labels[test[i].label]) for i in chosen] + list(extra)
    sess = export.session(model_path)
    cases = []
    for text, label in texts:
        encoding = tokenizer.encode(text)
        out = export.logits(sess, [encoding.ids])[0]
        cases.append(dict(text=text, label=label, ids=encoding.ids, logits=[float(x) for x in out]))
    out_path.write_text(json.dumps(dict(
        model_sha256=sha256(model_path), max_tokens=max_tokens,
        reference="onnxruntime, graph optimisations disabled", cases=cases), indent=1, ensure_ascii=False))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--packages", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    manifest = json.loads((args.model_dir / "manifest.json").read_text())
    splits = heldout.load(args.corpus, args.packages, per_language=1)
    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(manifest["max_tokens"])
    # onnxruntime runs the bundle's ONNX source; the manifest points workers at the NNEF
    # converted from it (`triage convert`), which computes the same logits.
    sess = export.session(args.model_dir / "model.onnx")
    result = {}
    for name, rows in (("emails", splits.test), ("sms", splits.sms_test)):
        ids = [e.ids for e in tokenizer.encode_batch([r.text for r in rows])]
        result[name] = metrics(np.array([r.label for r in rows]), spam_probability(sess, ids))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

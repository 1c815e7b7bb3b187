"""Prune the teacher's WordPiece vocabulary to the tokens the training texts use, so the
student's embedding table (most of its weights) stays small."""

import copy
import json
from collections import Counter

from tokenizers import Tokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _is_char_piece(token: str) -> bool:
    return len(token) == 1 or (token.startswith("##") and len(token) == 3)


def prune(teacher_json: dict, texts: list[str], size: int) -> tuple[dict, list[int]]:
    """A tokenizer.json keeping the specials, every single-character piece seen in `texts`
    or in ASCII (so unseen words still split into pieces), and the most frequent tokens up to
    `size`. Returns it and, for each new id, the teacher's id (to initialise embeddings)."""
    full = Tokenizer.from_str(json.dumps(teacher_json))
    full.no_padding()
    full.no_truncation()
    vocab = teacher_json["model"]["vocab"]
    inverse = {i: t for t, i in vocab.items()}
    counts = Counter()
    for encoding in full.encode_batch(texts, add_special_tokens=False):
        counts.update(encoding.ids)

    keep = list(SPECIALS)
    chosen = set(keep)
    ascii_pieces = {chr(c) for c in range(33, 127)} | {"##" + chr(c) for c in range(33, 127)}
    for token in sorted(vocab, key=vocab.get):
        if _is_char_piece(token) and (token in ascii_pieces or counts[vocab[token]] > 0):
            if token not in chosen:
                keep.append(token)
                chosen.add(token)
    for token_id, _ in counts.most_common():
        if len(keep) >= size:
            break
        token = inverse[token_id]
        if token not in chosen:
            keep.append(token)
            chosen.add(token)

    pruned = copy.deepcopy(teacher_json)
    pruned["model"]["vocab"] = {token: i for i, token in enumerate(keep)}
    new_id = pruned["model"]["vocab"]
    for added in pruned.get("added_tokens", []):
        added["id"] = new_id[added["content"]] if added["content"] in new_id else None
    pruned["added_tokens"] = [a for a in pruned.get("added_tokens", []) if a["id"] is not None]
    for name, special in pruned["post_processor"]["special_tokens"].items():
        special["ids"] = [new_id[name]]
    pruned["padding"] = None
    pruned["truncation"] = None
    return pruned, [vocab[token] for token in keep]

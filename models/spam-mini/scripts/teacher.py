"""The teacher: pretrained all-MiniLM-L6-v2 (mean-pooled sentence embeddings) with a
logistic-regression head. It gives the student soft labels and its initial embeddings."""

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from tqdm import tqdm
from transformers import BertModel, BertTokenizerFast


def load(model_dir):
    tokenizer = BertTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    model = BertModel.from_pretrained(str(model_dir)).eval()
    return tokenizer, model


@torch.no_grad()
def embed(tokenizer, model, texts, max_tokens, batch=64) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, as sentence-transformers computes them. Texts
    are embedded in order of length, so short ones are not padded to a long one's length."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = []
    for start in tqdm(range(0, len(texts), batch), desc="teacher embeddings"):
        chunk = [texts[i] for i in order[start : start + batch]]
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        states = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    embeddings = np.empty((len(texts), out[0].shape[1]), dtype=np.float32) if out else np.zeros((0, 384), np.float32)
    embeddings[order] = np.concatenate(out) if out else embeddings
    return embeddings


def _folds(groups):
    """5 folds; with `groups`, every row of a group in the same fold (the views of one email,
    one SMS template), so no fold is scored by a head that saw its near-duplicates."""
    from sklearn.model_selection import GroupKFold

    return 5 if groups is None else GroupKFold(n_splits=5)


def soft_labels(train_x, train_y, seed, groups=None):
    """Out-of-fold spam probabilities for the training set (honest, not memorised), and the
    head fitted on all of it."""
    head = LogisticRegression(C=10.0, max_iter=5000, random_state=seed)
    oof = cross_val_predict(head, train_x, train_y, cv=_folds(groups), groups=groups,
                            method="predict_proba")[:, 1]
    head.fit(train_x, train_y)
    return oof, head


def tfidf_soft_labels(train_texts, train_y, others, groups=None):
    """Out-of-fold probabilities of a TF-IDF logistic regression on the training texts, and
    its probabilities for each list of texts in `others` (a dict of name to texts)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2),
                             LogisticRegression(C=10.0, max_iter=5000))
    oof = cross_val_predict(pipeline, train_texts, train_y, cv=_folds(groups), groups=groups,
                            method="predict_proba")[:, 1]
    pipeline.fit(train_texts, train_y)
    return oof, {k: pipeline.predict_proba(v)[:, 1] for k, v in others.items()}


def ensemble(model_dir, texts, labels, groups, max_tokens, cache, seed, tfidf=True):
    """The teacher both model builds use. `texts` maps a name to a list of texts; "train" is
    the taught rows (with `labels` and `groups`). MiniLM embeddings of every list are cached
    in `cache`, keyed by the texts. Returns the out-of-fold probabilities of the training
    rows (by group) and, for every other list, the fitted head's probabilities; with
    `tfidf`, each is averaged with a TF-IDF logistic regression's."""
    import hashlib

    digest = hashlib.sha256("\0".join(t for v in texts.values() for t in v).encode()).hexdigest()[:16]
    emb_path = cache / f"teacher-{max_tokens}-{digest}.npz"
    if emb_path.exists():
        emb = dict(np.load(emb_path))
    else:
        tokenizer, model = load(model_dir)
        emb = {k: embed(tokenizer, model, v, max_tokens) for k, v in texts.items()}
        np.savez(emb_path, **emb)
    others = [k for k in texts if k != "train"]
    soft, head = soft_labels(emb["train"], labels, seed, groups)
    probabilities = {k: head.predict_proba(emb[k])[:, 1] for k in others}
    if tfidf:
        tfidf_soft, tfidf_p = tfidf_soft_labels(texts["train"], labels, {k: texts[k] for k in others}, groups)
        soft = (soft + tfidf_soft) / 2
        probabilities = {k: (probabilities[k] + tfidf_p[k]) / 2 for k in others}
    return soft, probabilities

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
    """L2-normalised mean-pooled embeddings, as sentence-transformers computes them."""
    out = []
    for start in tqdm(range(0, len(texts), batch), desc="teacher embeddings"):
        enc = tokenizer(texts[start : start + batch], padding=True, truncation=True,
                        max_length=max_tokens, return_tensors="pt")
        states = model(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out)


def soft_labels(train_x, train_y, seed):
    """Out-of-fold spam probabilities for the training set (honest, not memorised), and the
    head fitted on all of it."""
    head = LogisticRegression(C=10.0, max_iter=5000)
    oof = cross_val_predict(head, train_x, train_y, cv=5, method="predict_proba")[:, 1]
    head.fit(train_x, train_y)
    return oof, head


def tfidf_soft_labels(texts, train_y):
    """Out-of-fold probabilities of a TF-IDF logistic regression on the full texts, and its
    probabilities for the validation and test splits."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2),
                             LogisticRegression(C=10.0, max_iter=5000))
    oof = cross_val_predict(pipeline, texts["train"], train_y, cv=5, method="predict_proba")[:, 1]
    pipeline.fit(texts["train"], train_y)
    return oof, {k: pipeline.predict_proba(texts[k])[:, 1] for k in ("val", "test")}

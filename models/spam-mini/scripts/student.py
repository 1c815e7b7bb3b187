"""The student: a 2-layer, 128-wide transformer encoder with mean pooling, written with
plain ops (MatMul, Softmax, LayerNorm) so that its ONNX export runs in tract as is.

With `ternary=True` its matmul weights and token embeddings are trained ternary, BitNet
b1.58 style (Ma et al. 2024, "The Era of 1-bit LLMs", arXiv 2402.17764): every forward pass
uses `round(clip(W / s, -1, 1)) * s` with `s` the mean absolute weight of the output
channel (per token row for the embeddings), gradients pass straight through to the latent
f32 weights. `bake()` then fixes the weights at their ternary values for export."""

import math

import numpy as np
import torch
from torch import nn
from tqdm import tqdm


def ternary_values(weight, dim):
    """`weight` rounded to {-s, 0, +s}, one absmean scale `s` per index of the other axis
    (`dim` is the axis reduced): each value exactly `q * s`."""
    scale = weight.abs().mean(dim, keepdim=True).clamp(min=1e-6)
    return (weight / scale).round().clamp(-1, 1) * scale


def ternary(weight, dim):
    """`ternary_values` in the forward pass, a straight-through gradient in the backward."""
    return weight + (ternary_values(weight, dim) - weight).detach()


class TernaryLinear(nn.Linear):
    """`nn.Linear` whose weight is ternary per output channel in the forward pass (until
    `baked`, when the stored weight already is)."""

    baked = False

    def forward(self, x):
        weight = self.weight if self.baked else ternary(self.weight, 1)
        return nn.functional.linear(x, weight, self.bias)


class Layer(nn.Module):
    def __init__(self, width, heads, hidden, dropout, linear=nn.Linear):
        super().__init__()
        self.heads, self.head_width = heads, width // heads
        self.qkv = linear(width, 3 * width)
        self.out = linear(width, width)
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.up = linear(width, hidden)
        self.down = linear(hidden, width)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, bias):
        b, s, w = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, self.head_width).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_width)
        if bias is not None:
            scores = scores + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, s, w)
        x = self.norm1(x + self.drop(self.out(context)))
        return self.norm2(x + self.drop(self.down(torch.relu(self.up(x)))))


class Student(nn.Module):
    def __init__(self, vocab, width=128, layers=2, heads=4, hidden=512, max_tokens=256,
                 labels=2, dropout=0.1, ternary=False):
        super().__init__()
        self.ternary_tokens = ternary
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Parameter(torch.zeros(max_tokens, width))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        linear = TernaryLinear if ternary else nn.Linear
        self.layers = nn.ModuleList(Layer(width, heads, hidden, dropout, linear) for _ in range(layers))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, labels)
        nn.init.normal_(self.positions, std=0.02)

    def forward(self, input_ids, attention_mask=None):
        """Logits `[batch, labels]`. Without a mask (one unpadded text, as at the edge) the
        graph has no masking ops at all."""
        table = ternary(self.tokens.weight, 1) if self.ternary_tokens else self.tokens.weight
        x = nn.functional.embedding(input_ids, table) + self.positions[: input_ids.shape[1]]
        x = self.drop(self.norm(x))
        bias = None
        if attention_mask is not None:
            bias = (1.0 - attention_mask[:, None, None, :].float()) * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        if attention_mask is None:
            pooled = x.mean(1)
        else:
            m = attention_mask.unsqueeze(-1).float()
            pooled = (x * m).sum(1) / m.sum(1)
        return self.head(pooled)


@torch.no_grad()
def bake(student):
    """Stores the ternary values the forward pass used as the weights themselves (each
    exactly `q * s`, `q` in {-1, 0, 1}), so the export is a plain f32 graph whose weights
    `export.quantize_weights(..., ternary=True)` stores as trits. No-op for an f32 student."""
    if student.ternary_tokens:
        student.tokens.weight.copy_(ternary_values(student.tokens.weight, 1))
        student.ternary_tokens = False
    for module in student.modules():
        if isinstance(module, TernaryLinear) and not module.baked:
            module.weight.copy_(ternary_values(module.weight, 1))
            module.baked = True


def init_embeddings(student, teacher_rows: np.ndarray, seed: int):
    """Projects the teacher's token embeddings of the kept vocabulary onto their top
    principal components, scaled to the student's init scale."""
    centred = teacher_rows - teacher_rows.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    width = student.tokens.weight.shape[1]
    projected = centred @ vt[:width].T
    projected *= 0.02 / projected.std()
    with torch.no_grad():
        student.tokens.weight.copy_(torch.from_numpy(projected.astype(np.float32)))


def batches(ids, labels, soft, size, shuffle, rng, weights=None):
    """Padded batches of `size` rows. When shuffling, rows are drawn in random order, sorted
    by length within each run of 50 batches and the batches shuffled again, so a batch of
    short texts is not padded to an email's 256 tokens."""
    weights = np.ones(len(ids), dtype=np.float32) if weights is None else weights
    if shuffle:
        order = rng.permutation(len(ids))
        pool = size * 50
        chunks = []
        for start in range(0, len(order), pool):
            run = sorted(order[start : start + pool], key=lambda i: len(ids[i]))
            chunks += [run[i : i + size] for i in range(0, len(run), size)]
        chunks = [chunks[i] for i in rng.permutation(len(chunks))]
    else:
        chunks = [np.arange(start, min(start + size, len(ids))) for start in range(0, len(ids), size)]
    for chosen in chunks:
        chosen = np.asarray(chosen)
        longest = max(len(ids[i]) for i in chosen)
        x = np.zeros((len(chosen), longest), dtype=np.int64)
        mask = np.zeros_like(x)
        for row, i in enumerate(chosen):
            x[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        yield (torch.from_numpy(x), torch.from_numpy(mask), torch.tensor(labels[chosen]),
               torch.tensor(soft[chosen], dtype=torch.float32),
               torch.tensor(weights[chosen], dtype=torch.float32))


@torch.no_grad()
def predict(student, ids, size=128):
    student.eval()
    rng = np.random.default_rng(0)
    dummy = np.zeros(len(ids), dtype=np.int64)
    out = []
    for x, mask, _, _, _ in batches(ids, dummy, dummy.astype(np.float32), size, False, rng):
        out.append(student(x, mask).softmax(-1)[:, 1].numpy())
    return np.concatenate(out)


def train(student, train_ids, train_y, teacher_p, alpha, epochs, lr, seed, evaluate, hard_weight=None):
    """AdamW with linear warm-up and cosine decay; per row, loss = (1-alpha) * hard_weight *
    CE(label) + alpha * BCE(teacher's probability), averaged over the batch. A row with
    hard weight 0 and probability 0.5 teaches "cannot know" (text in a language with no spam
    examples, or mostly [UNK]). Keeps the weights of the best validation epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_y = np.asarray(train_y)
    teacher_p = np.asarray(teacher_p, dtype=np.float32)
    hard_weight = (np.ones(len(train_ids), dtype=np.float32) if hard_weight is None
                   else np.asarray(hard_weight, dtype=np.float32))
    steps = epochs * math.ceil(len(train_ids) / 32)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    best, best_state = -1.0, None
    for epoch in range(epochs):
        student.train()
        bar = tqdm(batches(train_ids, train_y, teacher_p, 32, True, rng, hard_weight),
                   total=math.ceil(len(train_ids) / 32), desc=f"epoch {epoch + 1}/{epochs}")
        for x, mask, y, soft, weight in bar:
            logits = student(x, mask)
            hard = nn.functional.cross_entropy(logits, y, reduction="none") * weight
            p = logits.log_softmax(-1)
            distil = -(soft * p[:, 1] + (1 - soft) * p[:, 0])
            loss = ((1 - alpha) * hard + alpha * distil).mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        score = evaluate(student)
        print(f"epoch {epoch + 1}: validation score {score:.4f}")
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in student.state_dict().items()}
    student.load_state_dict(best_state)
    return best

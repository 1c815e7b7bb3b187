//! A llama-architecture decoder (SmolLM2, Llama, TinyLlama and their GGUF files) over
//! candle's quantized matrix kernels: the weights stay in their GGUF block format (Q4_0,
//! Q8_0, ...) and each matrix product quantizes its activations to the matching 8-bit
//! blocks (candle's `QMatMul`, with AVX, NEON and wasm simd128 kernels for Q4_0 and Q8_0).
//! Normalisation, rotary positions, attention and the key/value cache are plain loops
//! here: at one token per step they cost little next to the matrices, and the cache is
//! one preallocated buffer per layer whose size the caller bounds.
//!
//! Shapes follow llama.cpp's GGUF conventions: `token_embd.weight` `[vocab, dim]`, per
//! layer `attn_q` `[dim, dim]`, `attn_k`/`attn_v` `[kv_heads * head_dim, dim]`,
//! `ffn_gate`/`ffn_up` `[ffn, dim]`, `ffn_down` `[dim, ffn]`; rotary embedding on
//! adjacent pairs (the GGUF conversion permuted q and k for it); the output matrix is
//! `output.weight`, or the embedding when they are tied (SmolLM2).

use std::io::{Read, Seek};
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use crate::error::{Result, TriageError};

/// Shape of the network, from the GGUF metadata (`llama.*` keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Hidden size (`llama.embedding_length`): 576 for SmolLM2-135M.
    pub dim: usize,
    /// Query heads (`llama.attention.head_count`).
    pub heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`); grouped-query attention when
    /// fewer than `heads`.
    pub kv_heads: usize,
    /// Decoder blocks (`llama.block_count`).
    pub layers: usize,
    /// Vocabulary size: rows of the embedding, columns of the logits.
    pub vocab: usize,
    /// Positions the model was trained for (`llama.context_length`).
    pub context_length: usize,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// Rotary base (`llama.rope.freq_base`, 10000 when absent).
    pub rope_base: f32,
    /// Width of the feed-forward layer (`blk.0.ffn_up.weight`'s rows): 1536 for
    /// SmolLM2-135M.
    pub ffn: usize,
}

/// Prompt tokens run through the network at once: a long prompt is prefilled in chunks,
/// so the attention's working set is `chunk x positions`, not `prompt x prompt` (measured:
/// a 497-token prompt in one pass left a wasm instance at 223 MiB).
pub const PREFILL_CHUNK: usize = 64;

impl Config {
    /// Length of one head's vectors.
    pub fn head_dim(&self) -> usize {
        self.dim / self.heads
    }

    /// Bytes of key/value cache per position: keys and values of every layer, f32.
    pub fn kv_bytes_per_token(&self) -> usize {
        2 * self.layers * self.kv_heads * self.head_dim() * std::mem::size_of::<f32>()
    }

    /// Bytes one forward pass of [`PREFILL_CHUNK`] tokens over `positions` cached ones
    /// holds at most besides the weights and cache: the attention's scores, mask and
    /// weights (four `heads x chunk x positions` f32 tensors at once), the keys and values
    /// copied per head, the feed-forward activations (four `chunk x ffn`), and a row of
    /// logits.
    pub fn working_bytes(&self, positions: usize) -> usize {
        let chunk = PREFILL_CHUNK;
        let f32s = 4 * self.heads * chunk * positions
            + 2 * positions * self.kv_heads * self.head_dim()
            + 4 * chunk * self.ffn
            + 8 * chunk * self.dim
            + self.vocab;
        f32s * std::mem::size_of::<f32>()
    }
}

struct Block {
    attn_norm: Vec<f32>,
    ffn_norm: Vec<f32>,
    q: QMatMul,
    k: QMatMul,
    v: QMatMul,
    o: QMatMul,
    gate: QMatMul,
    up: QMatMul,
    down: QMatMul,
}

/// The loaded network: weights in their quantized blocks, rotary tables for `positions`.
pub struct Llama {
    config: Config,
    embedding: Arc<QTensor>,
    output: QMatMul,
    norm: Vec<f32>,
    blocks: Vec<Block>,
    /// cos and sin of each position's rotary angles, `[positions, head_dim / 2]`.
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Bytes of the weights as loaded (their storage, quantized).
    weight_bytes: usize,
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("config", &self.config)
            .field("weight_bytes", &self.weight_bytes)
            .finish_non_exhaustive()
    }
}

/// The key/value cache of one sequence: `positions` slots per layer, filled in order.
pub struct KvCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    /// Positions filled.
    len: usize,
    /// Positions it holds at most.
    capacity: usize,
    /// Floats per position and layer: `kv_heads * head_dim`.
    width: usize,
}

impl KvCache {
    /// Positions filled so far (prompt and generated tokens).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was run yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keeps the first `len` positions (drops draft tokens a verifier refused).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            for layer in self.keys.iter_mut().chain(self.values.iter_mut()) {
                layer.truncate(len * self.width);
            }
        }
    }
}

fn model_error(reason: impl std::fmt::Display) -> TriageError {
    TriageError::Model {
        file: "model.gguf".into(),
        reason: reason.to_string(),
    }
}

fn inference_error(reason: impl std::fmt::Display) -> TriageError {
    TriageError::Inference(reason.to_string())
}

fn metadata_u32(content: &gguf_file::Content, key: &str) -> Result<usize> {
    let value = content
        .metadata
        .get(key)
        .ok_or_else(|| model_error(format!("GGUF metadata lacks `{key}`")))?;
    value
        .to_u32()
        .map(|v| v as usize)
        .or_else(|_| value.to_u64().map(|v| v as usize))
        .map_err(|_| model_error(format!("GGUF metadata `{key}` is not a whole number")))
}

fn metadata_f32(content: &gguf_file::Content, key: &str, default: Option<f32>) -> Result<f32> {
    match (content.metadata.get(key), default) {
        (Some(value), _) => value
            .to_f32()
            .map_err(|_| model_error(format!("GGUF metadata `{key}` is not a number"))),
        (None, Some(default)) => Ok(default),
        (None, None) => Err(model_error(format!("GGUF metadata lacks `{key}`"))),
    }
}

/// Reads the architecture's shape from GGUF metadata; only `llama` is supported.
pub fn read_config(content: &gguf_file::Content) -> Result<Config> {
    let architecture = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok())
        .map(String::as_str)
        .unwrap_or("");
    if architecture != "llama" {
        return Err(model_error(format!(
            "architecture {architecture:?} is not supported: the generate task runs `llama` GGUF files"
        )));
    }
    let heads = metadata_u32(content, "llama.attention.head_count")?;
    let dim = metadata_u32(content, "llama.embedding_length")?;
    let kv_heads = metadata_u32(content, "llama.attention.head_count_kv").unwrap_or(heads);
    let vocab = match content.tensor_infos.get("token_embd.weight") {
        Some(info) => info.shape.dims().first().copied().unwrap_or(0),
        None => return Err(model_error("GGUF file has no `token_embd.weight`")),
    };
    let ffn = match content.tensor_infos.get("blk.0.ffn_up.weight") {
        Some(info) => info.shape.dims().first().copied().unwrap_or(0),
        None => return Err(model_error("GGUF file has no `blk.0.ffn_up.weight`")),
    };
    let config = Config {
        ffn,
        dim,
        heads,
        kv_heads,
        layers: metadata_u32(content, "llama.block_count")?,
        vocab,
        context_length: metadata_u32(content, "llama.context_length")?,
        rms_eps: metadata_f32(content, "llama.attention.layer_norm_rms_epsilon", None)?,
        rope_base: metadata_f32(content, "llama.rope.freq_base", Some(10_000.0))?,
    };
    let valid = config.heads > 0
        && config.kv_heads > 0
        && config.heads.is_multiple_of(config.kv_heads)
        && config.dim.is_multiple_of(config.heads)
        && config.head_dim().is_multiple_of(2)
        && config.layers > 0
        && config.vocab > 0
        && config.ffn > 0
        && config.rms_eps.is_finite()
        && config.rope_base.is_finite()
        && config.rope_base > 0.0;
    if !valid {
        return Err(model_error(format!(
            "GGUF shape is inconsistent: {config:?}"
        )));
    }
    Ok(config)
}

impl Llama {
    /// Loads the network from a GGUF file, one tensor at a time (the peak is the weights
    /// plus the largest tensor's bytes), with rotary tables for `positions` positions.
    ///
    /// Errors: [`TriageError::Model`] for a file that is not GGUF, another architecture,
    /// a missing or misshapen tensor.
    pub fn load<R: Read + Seek>(reader: &mut R, positions: usize) -> Result<Llama> {
        let content = gguf_file::Content::read(reader).map_err(model_error)?;
        Llama::from_content(&content, reader, positions)
    }

    /// [`Llama::load`] from a GGUF header already read (`content`, from `reader`): the
    /// tensors are read from `reader` at the offsets it gives.
    pub fn from_content<R: Read + Seek>(
        content: &gguf_file::Content,
        reader: &mut R,
        positions: usize,
    ) -> Result<Llama> {
        let config = read_config(content)?;
        let mut weight_bytes = 0;
        let mut tensor = |name: &str, shape: &[usize]| -> Result<QTensor> {
            let t = content
                .tensor(reader, name, &Device::Cpu)
                .map_err(|e| model_error(format!("tensor `{name}`: {e}")))?;
            if t.shape().dims() != shape {
                return Err(model_error(format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.shape().dims()
                )));
            }
            weight_bytes += t.storage_size_in_bytes();
            Ok(t)
        };
        let (dim, kv_dim) = (config.dim, config.kv_heads * config.head_dim());
        let embedding = Arc::new(tensor("token_embd.weight", &[config.vocab, dim])?);
        let vector = |t: QTensor| -> Result<Vec<f32>> {
            t.dequantize(&Device::Cpu)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1())
                .map_err(model_error)
        };
        let matrix = |t: QTensor| QMatMul::from_qtensor(t).map_err(model_error);
        let norm = vector(tensor("output_norm.weight", &[dim])?)?;
        let ffn = config.ffn;
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let name = |part: &str| format!("blk.{i}.{part}.weight");
            blocks.push(Block {
                attn_norm: vector(tensor(&name("attn_norm"), &[dim])?)?,
                ffn_norm: vector(tensor(&name("ffn_norm"), &[dim])?)?,
                q: matrix(tensor(&name("attn_q"), &[dim, dim])?)?,
                k: matrix(tensor(&name("attn_k"), &[kv_dim, dim])?)?,
                v: matrix(tensor(&name("attn_v"), &[kv_dim, dim])?)?,
                o: matrix(tensor(&name("attn_output"), &[dim, dim])?)?,
                gate: matrix(tensor(&name("ffn_gate"), &[ffn, dim])?)?,
                up: matrix(tensor(&name("ffn_up"), &[ffn, dim])?)?,
                down: matrix(tensor(&name("ffn_down"), &[dim, ffn])?)?,
            });
        }
        let output = if content.tensor_infos.contains_key("output.weight") {
            matrix(tensor("output.weight", &[config.vocab, dim])?)?
        } else {
            // Tied: the embedding is the output matrix too, shared, not loaded twice.
            QMatMul::from_arc(embedding.clone()).map_err(model_error)?
        };
        if matches!(
            embedding.dtype(),
            GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16
        ) && !content.tensor_infos.contains_key("output.weight")
        {
            // QMatMul dequantizes float matrices into a second copy.
            weight_bytes += config.vocab * dim * 4;
        }
        let positions = positions.min(config.context_length).max(1);
        let half = config.head_dim() / 2;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for position in 0..positions {
            for i in 0..half {
                let angle = position as f32
                    * config
                        .rope_base
                        .powf(-(2.0 * i as f32) / config.head_dim() as f32);
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(Llama {
            config,
            embedding,
            output,
            norm,
            blocks,
            cos,
            sin,
            weight_bytes,
        })
    }

    /// The network's shape.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes the weights hold in memory.
    pub fn weight_bytes(&self) -> usize {
        self.weight_bytes
    }

    /// Positions the rotary tables cover: the most a cache may hold.
    pub fn positions(&self) -> usize {
        self.cos.len() / (self.config.head_dim() / 2)
    }

    /// An empty cache for up to `capacity` positions (at most [`Llama::positions`]),
    /// its memory reserved now: `capacity * kv_bytes_per_token` bytes.
    pub fn cache(&self, capacity: usize) -> KvCache {
        let capacity = capacity.min(self.positions());
        let width = self.config.kv_heads * self.config.head_dim();
        let layer = || -> Vec<Vec<f32>> {
            (0..self.config.layers)
                .map(|_| Vec::with_capacity(capacity * width))
                .collect()
        };
        KvCache {
            keys: layer(),
            values: layer(),
            len: 0,
            capacity,
            width,
        }
    }

    fn rms_norm(&self, x: &[f32], weight: &[f32]) -> Vec<f32> {
        let dim = self.config.dim;
        let mut out = Vec::with_capacity(x.len());
        for row in x.chunks_exact(dim) {
            let mean_square = row.iter().map(|v| v * v).sum::<f32>() / dim as f32;
            let scale = 1.0 / (mean_square + self.config.rms_eps).sqrt();
            out.extend(row.iter().zip(weight).map(|(v, w)| v * scale * w));
        }
        out
    }

    fn rotate(&self, x: &mut [f32], position: usize) {
        let half = self.config.head_dim() / 2;
        let cos = &self.cos[position * half..(position + 1) * half];
        let sin = &self.sin[position * half..(position + 1) * half];
        for head in x.chunks_exact_mut(self.config.head_dim()) {
            for (i, pair) in head.chunks_exact_mut(2).enumerate() {
                let (a, b) = (pair[0], pair[1]);
                pair[0] = a * cos[i] - b * sin[i];
                pair[1] = a * sin[i] + b * cos[i];
            }
        }
    }

    fn matmul(weights: &QMatMul, x: Vec<f32>, rows: usize) -> Result<Vec<f32>> {
        let columns = x.len() / rows.max(1);
        Tensor::from_vec(x, (rows, columns), &Device::Cpu)
            .and_then(|t| weights.forward(&t))
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .map_err(inference_error)
    }

    /// Causal grouped-query attention of `n` new queries (`q`, `[n, heads * head_dim]`,
    /// at positions `start..start + n`) over the cache's `start + n` keys and values
    /// (`[positions, kv_heads * head_dim]`): `[n, heads * head_dim]`. The products run
    /// in candle (its gemm), each key/value head shared by `heads / kv_heads` query heads.
    fn attend(
        &self,
        q: &[f32],
        keys: &[f32],
        values: &[f32],
        start: usize,
        n: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let Config {
            heads, kv_heads, ..
        } = self.config;
        let head_dim = self.config.head_dim();
        let group = heads / kv_heads;
        let visible = start + n;
        let cpu = &Device::Cpu;
        // [n, heads, d] -> [kv_heads, group * n, d]: head h reads kv head h / group.
        let q = Tensor::from_slice(q, (n, kv_heads, group, head_dim), cpu)?
            .permute((1, 2, 0, 3))?
            .reshape((kv_heads, group * n, head_dim))?;
        let k = Tensor::from_slice(keys, (visible, kv_heads, head_dim), cpu)?
            .transpose(0, 1)?
            .contiguous()?;
        let v = Tensor::from_slice(values, (visible, kv_heads, head_dim), cpu)?
            .transpose(0, 1)?
            .contiguous()?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?)? * scale)?;
        if n > 1 {
            // Query t (at position start + t) sees positions up to start + t.
            let mask: Vec<f32> = (0..group * n)
                .flat_map(|row| {
                    let t = row % n;
                    (0..visible).map(move |p| {
                        if p > start + t {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            let mask = Tensor::from_vec(mask, (1, group * n, visible), cpu)?;
            scores = scores.broadcast_add(&mask)?;
        }
        let max = scores.max_keepdim(2)?;
        let weights = scores.broadcast_sub(&max)?.exp()?;
        let weights = weights.broadcast_div(&weights.sum_keepdim(2)?)?;
        // [kv_heads, group * n, d] -> [n, heads * d]
        weights
            .matmul(&v)?
            .reshape((kv_heads, group, n, head_dim))?
            .permute((2, 0, 1, 3))?
            .flatten_all()?
            .to_vec1()
    }

    /// Runs a prompt of any length after what `cache` holds, [`PREFILL_CHUNK`] tokens at a
    /// time, and returns the logits of its last token, `f32[vocab]`.
    ///
    /// Errors: as [`Llama::forward`].
    pub fn prefill(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        let mut last = None;
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            last = Some(self.forward(chunk, cache, false)?);
        }
        last.ok_or_else(|| inference_error("no tokens to run"))
    }

    /// Runs `tokens` at the positions after those `cache` holds, adding them to it, and
    /// returns the logits of the last one, `f32[vocab]`. Every position's logits are
    /// returned with `all_logits` (`f32[tokens.len() * vocab]`, for verifying drafts).
    ///
    /// Errors: [`TriageError::Inference`] when the cache has no room for `tokens`, a token
    /// is outside the vocabulary, or a kernel fails.
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        all_logits: bool,
    ) -> Result<Vec<f32>> {
        let n = tokens.len();
        let start = cache.len;
        if n == 0 {
            return Err(inference_error("no tokens to run"));
        }
        if start + n > cache.capacity {
            return Err(inference_error(format!(
                "the sequence would hold {} tokens, the cache holds {}",
                start + n,
                cache.capacity
            )));
        }
        if let Some(bad) = tokens.iter().find(|&&t| t as usize >= self.config.vocab) {
            return Err(inference_error(format!(
                "token {bad} is outside the vocabulary"
            )));
        }
        let dim = self.config.dim;
        let kv_dim = self.config.kv_heads * self.config.head_dim();
        let ids = Tensor::from_vec(tokens.to_vec(), n, &Device::Cpu).map_err(inference_error)?;
        let mut x: Vec<f32> = self
            .embedding
            .embedding(&ids)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1())
            .map_err(inference_error)?;
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = self.rms_norm(&x, &block.attn_norm);
            let mut q = Self::matmul(&block.q, h.clone(), n)?;
            let mut k = Self::matmul(&block.k, h.clone(), n)?;
            let v = Self::matmul(&block.v, h, n)?;
            for t in 0..n {
                self.rotate(&mut q[t * dim..(t + 1) * dim], start + t);
                self.rotate(&mut k[t * kv_dim..(t + 1) * kv_dim], start + t);
            }
            cache.keys[layer].extend_from_slice(&k);
            cache.values[layer].extend_from_slice(&v);
            let attended = self
                .attend(&q, &cache.keys[layer], &cache.values[layer], start, n)
                .map_err(inference_error)?;
            let projected = Self::matmul(&block.o, attended, n)?;
            x.iter_mut().zip(&projected).for_each(|(a, b)| *a += b);
            let h = self.rms_norm(&x, &block.ffn_norm);
            let gate = Self::matmul(&block.gate, h.clone(), n)?;
            let up = Self::matmul(&block.up, h, n)?;
            // SwiGLU: silu(gate) * up.
            let act: Vec<f32> = gate
                .iter()
                .zip(&up)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let down = Self::matmul(&block.down, act, n)?;
            x.iter_mut().zip(&down).for_each(|(a, b)| *a += b);
        }
        cache.len += n;
        let rows = if all_logits { n } else { 1 };
        let last = x[(n - rows) * dim..].to_vec();
        let normed = self.rms_norm(&last, &self.norm);
        Self::matmul(&self.output, normed, rows)
    }
}

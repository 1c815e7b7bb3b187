//! Matmuls with int8 weights and 16-bit activations: the kernel wasm builds run instead of
//! tract's f32 matmuls.
//!
//! **Why.** In wasm the matmuls are about 80% of a run, and tract's f32 kernels already run
//! near the simd128 ceiling: `f32x4.mul` + `f32x4.add` do 4 multiply-adds per pair of
//! instructions (simd128 has no fused multiply-add). `i32x4.dot_i16x8_s` + `i32x4.add` do 8,
//! and Triage's weights are int8 at rest anyway (`nnef.rs`). tract's own int8 path (static
//! int8 activations, its 4x4 int8 kernel, relaxed SIMD or not) was measured no faster than
//! f32 in wasm, and slower natively (`bench/RESULTS.md`, 2026-12-03).
//!
//! **What.** [`rewrite`] replaces every matmul of a decluttered graph whose right-hand side
//! is a constant that is exactly int8 times one scale per output column (or one scale) by
//! an [`Int8MatMul`] node, folding in the bias `Add` and the `ReLU` (`Max` with 0) that
//! follow it. Per run, each row of the left-hand side is quantized symmetrically to 16 bits
//! with its own scale (`max |x| / q`, `q` = 32767, less for very long rows so that no i32
//! sum can overflow: `q * 128 * k < 2^31`), multiplied exactly in i32 against the int8
//! weights, and scaled back: `out = acc * (s_row * s_col) + bias`, then `max(out, 0)` if
//! fused. The weights are used as stored; the only rounding is the activations' (at most
//! half a step of `max |x| / q` per value). Integer sums are exact, so the portable kernel
//! and the simd128 one give the same bits; parity with the f32 plan is in `tests/parity.rs`.

use std::sync::Arc;

use tract_nnef::tract_core::internal::*;
use tract_nnef::tract_core::ops::binary::TypedBinOp;
use tract_nnef::tract_core::ops::einsum::EinSum;
use tract_nnef::tract_core::prelude::tract_ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::engine::nnef::slice_scale;

/// Which matmul kernels a loaded model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatMulKernels {
    /// tract's own (f32 arithmetic; AVX2/FMA natively, simd128 in wasm).
    Tract,
    /// [`Int8MatMul`] wherever the weights are exactly int8, tract's elsewhere.
    Int8,
}

impl MatMulKernels {
    /// What a build uses unless told otherwise: [`MatMulKernels::Int8`] in wasm, where it is
    /// faster; natively tract's AVX2 f32 kernels are (`bench/RESULTS.md`).
    pub const fn for_this_build() -> MatMulKernels {
        if cfg!(target_arch = "wasm32") {
            MatMulKernels::Int8
        } else {
            MatMulKernels::Tract
        }
    }
}

/// Columns per kernel tile: two `v128` of four i32 sums.
const TILE_N: usize = 8;

/// The constant right-hand side, packed for the kernel, and what follows the sums.
#[derive(Debug)]
struct Weights {
    /// Contracted length.
    k: usize,
    /// The same, padded to even (the kernel takes k in pairs).
    k_pad: usize,
    /// Output columns.
    n: usize,
    /// For each group of [`TILE_N`] columns, for each pair of k: the 8 columns' two
    /// weights as i16, column by column (`[c0 k0, c0 k1, c1 k0, c1 k1, ...]`); columns past
    /// `n` and the pad row are zero.
    packed: Vec<i16>,
    /// One scale per column (`s_col`).
    scales: Vec<f32>,
    /// The fused bias, zeros when none.
    bias: Vec<f32>,
    /// The largest 16-bit activation value that keeps every sum inside i32.
    q_max: f32,
}

/// How the output's shape is read off the left-hand side's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum OutAxis {
    /// The left-hand side's axis at this position.
    Lhs(usize),
    /// A column axis of this (concrete) length.
    Cols(usize),
    /// A unit axis.
    One,
}

/// `[.., m.., k..] x W[k.., n..] -> [.., m.., n..]` with int8 `W` and 16-bit activations,
/// f32 in and out (see the module's doc for the arithmetic).
#[derive(Debug, Clone)]
pub struct Int8MatMul {
    /// How many trailing axes of the left-hand side are contracted.
    contracted: usize,
    output: Vec<OutAxis>,
    relu: bool,
    weights: Arc<Weights>,
}

impl Int8MatMul {
    /// Bytes the op holds for the life of the model: packed weights, scales and bias.
    pub fn weight_bytes(&self) -> usize {
        let w = &self.weights;
        w.packed.len() * std::mem::size_of::<i16>() + (w.scales.len() + w.bias.len()) * 4
    }
}

impl PartialEq for Int8MatMul {
    fn eq(&self, other: &Self) -> bool {
        self.contracted == other.contracted
            && self.output == other.output
            && self.relu == other.relu
            && Arc::ptr_eq(&self.weights, &other.weights)
    }
}

impl Eq for Int8MatMul {}

impl Op for Int8MatMul {
    fn name(&self) -> StaticName {
        "Int8MatMul".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let w = &self.weights;
        Ok(vec![format!("k={} n={} relu={}", w.k_pad, w.n, self.relu)])
    }

    op_as_typed_op!();
}

impl EvalOp for Int8MatMul {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let lhs = args_1!(inputs);
        let shape = lhs.shape();
        let rows_rank = shape.len() - self.contracted;
        let m: usize = shape[..rows_rank].iter().product();
        let k: usize = shape[rows_rank..].iter().product();
        let values = lhs.try_as_plain_ram()?.as_slice::<f32>()?;
        let w = &*self.weights;
        ensure!(k == w.k, "Int8MatMul: k is {k}, the weights' is {}", w.k);
        let out_shape: Vec<usize> = self
            .output
            .iter()
            .map(|axis| match axis {
                OutAxis::Lhs(i) => shape[*i],
                OutAxis::Cols(n) => *n,
                OutAxis::One => 1,
            })
            .collect();
        let (q, row_scales) = quantize_rows(values, m, k, w.k_pad, w.q_max);
        let n_pad = w.n.div_ceil(TILE_N) * TILE_N;
        let mut sums = vec![0i32; m * n_pad];
        gemm(&q, m, w.k_pad, &w.packed, n_pad, &mut sums);
        let mut out = vec![0f32; m * w.n];
        for ((row, scale), out) in sums
            .chunks_exact(n_pad)
            .zip(&row_scales)
            .zip(out.chunks_exact_mut(w.n))
        {
            scale_row(&row[..w.n], *scale, &w.scales, &w.bias, self.relu, out);
        }
        let out = ArrayD::from_shape_vec(IxDyn(&out_shape), out)?;
        Ok(tvec!(out.into_tensor().into_tvalue()))
    }
}

impl TypedOp for Int8MatMul {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let shape: TVec<TDim> = self
            .output
            .iter()
            .map(|axis| match axis {
                OutAxis::Lhs(i) => inputs[0].shape[*i].clone(),
                OutAxis::Cols(n) => (*n).into(),
                OutAxis::One => 1.into(),
            })
            .collect();
        Ok(tvec!(f32::fact(shape)))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let rows_rank = inputs[0].rank() - self.contracted;
        let m: TDim = inputs[0].shape.iter().take(rows_rank).product();
        let w = &self.weights;
        Ok(tvec!((Cost::FMA(i32::datum_type()), m * w.k_pad * w.n)))
    }

    as_op!();
}

/// Each row of `values` (`[m, k]`) as 16-bit integers (`[m, k_pad]`, the pad zero) and its
/// scale: `x ~ q * scale`, `|q| <= q_max`. A row of zeros (or with a non-finite value) gets
/// scale 0 and zeros.
fn quantize_rows(
    values: &[f32],
    m: usize,
    k: usize,
    k_pad: usize,
    q_max: f32,
) -> (Vec<i16>, Vec<f32>) {
    let mut q = vec![0i16; m * k_pad];
    let mut scales = Vec::with_capacity(m);
    for (row, out) in values.chunks_exact(k).zip(q.chunks_exact_mut(k_pad)) {
        let largest = largest_magnitude(row);
        if largest > 0.0 && largest.is_finite() {
            quantize_row(row, q_max / largest, &mut out[..k]);
            scales.push(largest / q_max);
        } else {
            scales.push(0.0);
        }
    }
    (q, scales)
}

/// `max |x|` over `row` (exact, so any order gives the same value).
fn largest_magnitude(row: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::largest_magnitude(row)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    largest_scalar(row)
}

/// [`largest_magnitude`] one value at a time: the portable path, and the simd128 one's tail.
fn largest_scalar(row: &[f32]) -> f32 {
    row.iter().fold(0f32, |a, x| a.max(x.abs()))
}

/// `out = round_ties_even(x * inverse)` for each `x` of `row` (`|x * inverse| <= q_max`).
fn quantize_row(row: &[f32], inverse: f32, out: &mut [i16]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::quantize_row(row, inverse, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    quantize_scalar(row, inverse, out);
}

/// [`quantize_row`] one value at a time: the portable path, and the simd128 one's tail.
fn quantize_scalar(row: &[f32], inverse: f32, out: &mut [i16]) {
    for (o, x) in out.iter_mut().zip(row) {
        *o = (x * inverse).round_ties_even() as i16;
    }
}

/// One output row: `sum * (row_scale * col_scale) + bias`, then `max(., 0)` with `relu`.
fn scale_row(
    sums: &[i32],
    row_scale: f32,
    cols: &[f32],
    bias: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    simd128::scale_row(sums, row_scale, cols, bias, relu, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    scale_scalar(sums, row_scale, cols, bias, relu, out);
}

/// [`scale_row`] one value at a time: the portable path, and the simd128 one's tail.
fn scale_scalar(
    sums: &[i32],
    row_scale: f32,
    cols: &[f32],
    bias: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    for (((o, &s), &c), &b) in out.iter_mut().zip(sums).zip(cols).zip(bias) {
        let y = s as f32 * (row_scale * c) + b;
        *o = if relu { y.max(0.0) } else { y };
    }
}

/// `sums[m, n_pad] = q[m, k_pad] x W` for `W` packed as [`Weights::packed`] says.
fn gemm(q: &[i16], m: usize, k_pad: usize, packed: &[i16], n_pad: usize, sums: &mut [i32]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        let full = m / simd128::TILE_M * simd128::TILE_M;
        // SAFETY: the slices have the lengths the kernel reads and writes (checked by the
        // callers' construction: q is m * k_pad, packed n_pad * k_pad, sums m * n_pad).
        unsafe { simd128::gemm_rows(q, full, k_pad, packed, n_pad, sums) };
        portable_rows(q, full..m, k_pad, packed, n_pad, sums);
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    portable_rows(q, 0..m, k_pad, packed, n_pad, sums);
}

/// The same sums as the simd128 kernel, row by row, in plain Rust.
fn portable_rows(
    q: &[i16],
    rows: std::ops::Range<usize>,
    k_pad: usize,
    packed: &[i16],
    n_pad: usize,
    sums: &mut [i32],
) {
    let pairs = k_pad / 2;
    for r in rows {
        let a = &q[r * k_pad..(r + 1) * k_pad];
        for group in 0..n_pad / TILE_N {
            let panel = &packed[group * pairs * 2 * TILE_N..(group + 1) * pairs * 2 * TILE_N];
            let mut acc = [0i32; TILE_N];
            for (pair, w) in panel.chunks_exact(2 * TILE_N).enumerate() {
                let (a0, a1) = (i32::from(a[2 * pair]), i32::from(a[2 * pair + 1]));
                for (c, acc) in acc.iter_mut().enumerate() {
                    *acc += a0 * i32::from(w[2 * c]) + a1 * i32::from(w[2 * c + 1]);
                }
            }
            sums[r * n_pad + group * TILE_N..][..TILE_N].copy_from_slice(&acc);
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::TILE_N;
    use std::arch::wasm32::*;

    /// Rows per kernel tile.
    pub(super) const TILE_M: usize = 4;

    /// Rows `0..rows` (a multiple of [`TILE_M`]) of [`super::gemm`], four rows by eight
    /// columns at a time: per pair of k, two weight loads shared by the four rows, one
    /// splat of each row's pair, eight `i32x4.dot_i16x8_s`.
    ///
    /// # Safety
    /// `q` holds at least `rows * k_pad` values, `packed` `n_pad * k_pad`, `sums`
    /// `rows * n_pad`; `k_pad` is even and `n_pad` a multiple of [`TILE_N`].
    #[target_feature(enable = "simd128")]
    pub(super) unsafe fn gemm_rows(
        q: &[i16],
        rows: usize,
        k_pad: usize,
        packed: &[i16],
        n_pad: usize,
        sums: &mut [i32],
    ) {
        let pairs = k_pad / 2;
        debug_assert!(q.len() >= rows * k_pad && packed.len() >= n_pad * k_pad);
        debug_assert!(sums.len() >= rows * n_pad);
        // SAFETY: every pointer below stays inside the slices, as the caller guarantees.
        unsafe {
            let a = q.as_ptr() as *const i32;
            for r in (0..rows).step_by(TILE_M) {
                for group in 0..n_pad / TILE_N {
                    let w = packed.as_ptr().add(group * pairs * 2 * TILE_N) as *const v128;
                    let mut acc = [i32x4_splat(0); 2 * TILE_M];
                    for pair in 0..pairs {
                        let w0 = v128_load(w.add(2 * pair));
                        let w1 = v128_load(w.add(2 * pair + 1));
                        for (i, acc) in acc.chunks_exact_mut(2).enumerate() {
                            let x = i32x4_splat(a.add((r + i) * pairs + pair).read_unaligned());
                            acc[0] = i32x4_add(acc[0], i32x4_dot_i16x8(x, w0));
                            acc[1] = i32x4_add(acc[1], i32x4_dot_i16x8(x, w1));
                        }
                    }
                    for (i, acc) in acc.chunks_exact(2).enumerate() {
                        let out =
                            sums.as_mut_ptr().add((r + i) * n_pad + group * TILE_N) as *mut v128;
                        v128_store(out, acc[0]);
                        v128_store(out.add(1), acc[1]);
                    }
                }
            }
        }
    }

    /// [`super::largest_magnitude`], four lanes at a time.
    pub(super) fn largest_magnitude(row: &[f32]) -> f32 {
        let chunks = row.chunks_exact(4);
        let tail = super::largest_scalar(chunks.remainder());
        let mut best = f32x4_splat(0.0);
        for chunk in chunks {
            // SAFETY: a chunk is 4 f32, 16 bytes; v128 loads need no alignment.
            let x = unsafe { v128_load(chunk.as_ptr() as *const v128) };
            best = f32x4_max(best, f32x4_abs(x));
        }
        let lanes = [
            f32x4_extract_lane::<0>(best),
            f32x4_extract_lane::<1>(best),
            f32x4_extract_lane::<2>(best),
            f32x4_extract_lane::<3>(best),
        ];
        lanes.iter().fold(tail, |a, &x| a.max(x))
    }

    /// [`super::quantize_row`], eight values at a time (`f32x4.nearest` rounds ties to
    /// even, as the portable path does; the values are within i16, so the saturating
    /// conversions are exact).
    pub(super) fn quantize_row(row: &[f32], inverse: f32, out: &mut [i16]) {
        let scale = f32x4_splat(inverse);
        let whole = row.len() / 8 * 8;
        for (x, o) in row[..whole]
            .chunks_exact(8)
            .zip(out[..whole].chunks_exact_mut(8))
        {
            // SAFETY: 8 f32 in, 8 i16 out, unaligned v128 loads and stores.
            unsafe {
                let lo = v128_load(x.as_ptr() as *const v128);
                let hi = v128_load(x.as_ptr().add(4) as *const v128);
                let lo = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(lo, scale)));
                let hi = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(hi, scale)));
                v128_store(o.as_mut_ptr() as *mut v128, i16x8_narrow_i32x4(lo, hi));
            }
        }
        super::quantize_scalar(&row[whole..], inverse, &mut out[whole..]);
    }

    /// [`super::scale_row`], four columns at a time.
    pub(super) fn scale_row(
        sums: &[i32],
        row_scale: f32,
        cols: &[f32],
        bias: &[f32],
        relu: bool,
        out: &mut [f32],
    ) {
        let n = out.len();
        let whole = n / 4 * 4;
        let scale = f32x4_splat(row_scale);
        let zero = f32x4_splat(0.0);
        for i in (0..whole).step_by(4) {
            // SAFETY: i + 4 <= n, and every slice holds n values.
            unsafe {
                let s = f32x4_convert_i32x4(v128_load(sums.as_ptr().add(i) as *const v128));
                let c = f32x4_mul(scale, v128_load(cols.as_ptr().add(i) as *const v128));
                let b = v128_load(bias.as_ptr().add(i) as *const v128);
                let mut y = f32x4_add(f32x4_mul(s, c), b);
                if relu {
                    y = f32x4_pmax(y, zero);
                }
                v128_store(out.as_mut_ptr().add(i) as *mut v128, y);
            }
        }
        super::scale_scalar(
            &sums[whole..],
            row_scale,
            &cols[whole..],
            &bias[whole..],
            relu,
            &mut out[whole..],
        );
    }
}

/// `weights` (`[k, n]`) as int8 values (row-major) and one scale per column such that
/// `f32(q) * scale` is every weight bit for bit (the check `nnef.rs` writes int8 tensors
/// with), or `None` if some column is not exactly int8. Each column is copied out
/// contiguous first: a column of a row-major matrix is strided, which made the check 10x
/// slower, and this runs at every cold start.
fn column_int8(weights: &ArrayViewD<f32>, k: usize, n: usize) -> Option<(Vec<i8>, Vec<f32>)> {
    let mut columns = vec![0f32; k * n];
    for (r, row) in weights.rows().into_iter().enumerate() {
        for (c, &w) in row.iter().enumerate() {
            columns[c * k + r] = w;
        }
    }
    let mut int8 = vec![0i8; k * n];
    let mut scales = Vec::with_capacity(n);
    for (c, column) in columns.chunks_exact(k).enumerate() {
        let scale = slice_scale(&ArrayViewD::from_shape(IxDyn(&[k]), column).ok()?)?;
        for (r, &w) in column.iter().enumerate() {
            int8[r * n + c] = (w / scale).round() as i8;
        }
        scales.push(scale);
    }
    Some((int8, scales))
}

/// Packs `int8 [k, n]` (row-major) for the kernel, with the pad described at [`Weights`].
fn pack(int8: &[i8], k: usize, n: usize) -> (Vec<i16>, usize) {
    let k_pad = k.div_ceil(2) * 2;
    let groups = n.div_ceil(TILE_N);
    let pairs = k_pad / 2;
    let mut packed = vec![0i16; groups * pairs * 2 * TILE_N];
    for group in 0..groups {
        for pair in 0..pairs {
            for c in 0..TILE_N {
                let col = group * TILE_N + c;
                for j in 0..2 {
                    let row = 2 * pair + j;
                    if col < n && row < k {
                        packed[(group * pairs + pair) * 2 * TILE_N + 2 * c + j] =
                            i16::from(int8[row * n + col]);
                    }
                }
            }
        }
    }
    (packed, k_pad)
}

/// Replaces the matmuls [`Int8MatMul`] can run (see the module's doc) and the bias and
/// ReLU after each; returns how many it replaced. Run on a decluttered graph, before
/// `optimize`. It checks and packs every replaced weight once, part of the model load a
/// cold start pays: spam-mini's whole load took 32 ms against 28 ms on tract's kernels
/// natively (best of 15, Dec 2026).
///
/// Errors: only tract's, when a patch cannot be applied.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    let mut replaced = 0;
    for id in model.eval_order()? {
        if let Some((op, last)) = candidate(model, id)? {
            let mut patch = TypedModelPatch::new("Int8MatMul");
            let lhs = patch.tap_model(model, model.node(id).inputs[0])?;
            let name = model.node(id).name.clone();
            let wire = patch.wire_node(format!("{name}.int8"), op, &[lhs])?;
            patch.shunt_outside(model, OutletId::new(last, 0), wire[0])?;
            patch.apply(model)?;
            replaced += 1;
        }
    }
    if replaced > 0 {
        // Drops the replaced nodes (and their f32 weights); cheaper than decluttering again,
        // which the cold start of a Cloudflare isolate would pay.
        model.compact()?;
    }
    Ok(replaced)
}

/// The op replacing node `id` and the last node it absorbs (the matmul, its bias add or
/// its ReLU), if `id` is a matmul it can run.
fn candidate(model: &TypedModel, id: usize) -> TractResult<Option<(Int8MatMul, usize)>> {
    let node = model.node(id);
    let Some(einsum) = node.op_as::<EinSum>() else {
        return Ok(None);
    };
    if einsum.q_params.is_some()
        || einsum.operating_dt != f32::datum_type()
        || node.inputs.len() != 2
    {
        return Ok(None);
    }
    let (lhs, rhs) = (
        model.outlet_fact(node.inputs[0])?,
        model.outlet_fact(node.inputs[1])?,
    );
    let Some(weights) = rhs.konst.clone() else {
        return Ok(None);
    };
    if lhs.datum_type != f32::datum_type() || weights.datum_type() != f32::datum_type() {
        return Ok(None);
    }
    let Some((contracted, output, k, n)) = layout(einsum, lhs, &weights) else {
        return Ok(None);
    };
    if k == 0 || n == 0 {
        return Ok(None);
    }
    let matrix = weights.to_plain_array_view::<f32>()?;
    let Ok(matrix) = matrix.into_shape_with_order(IxDyn(&[k, n])) else {
        return Ok(None);
    };
    let Some((int8, scales)) = column_int8(&matrix, k, n) else {
        return Ok(None);
    };
    let (packed, k_pad) = pack(&int8, k, n);
    let out_fact = model.outlet_fact(OutletId::new(id, 0))?.clone();
    let mut last = id;
    let bias = follower(model, last, &out_fact, "Add").and_then(|(next, bias)| {
        let values = bias
            .try_as_plain_ram()
            .ok()?
            .as_slice::<f32>()
            .ok()?
            .to_vec();
        (values.len() == n && out_fact.shape.last() == Some(&n.into())).then(|| {
            last = next;
            values
        })
    });
    let relu = follower(model, last, &out_fact, "Max").is_some_and(|(next, low)| {
        let zero = low.len() == 1
            && low
                .try_as_plain_ram()
                .ok()
                .and_then(|v| v.as_slice::<f32>().ok().map(|s| s[0] == 0.0))
                == Some(true);
        if zero {
            last = next;
        }
        zero
    });
    let q_max = (f64::from(i32::MAX) / (128.0 * k_pad as f64))
        .floor()
        .min(32767.0) as f32;
    let weights = Weights {
        k,
        k_pad,
        n,
        packed,
        scales,
        bias: bias.unwrap_or_else(|| vec![0.0; n]),
        q_max,
    };
    let op = Int8MatMul {
        contracted,
        output,
        relu,
        weights: Arc::new(weights),
    };
    Ok(Some((op, last)))
}

/// The only successor of `id` if it is a binary `op` (by tract name) with a constant f32
/// other input whose every axis but the last is 1, and an output of the same shape as `fact`.
fn follower(
    model: &TypedModel,
    id: usize,
    fact: &TypedFact,
    op: &str,
) -> Option<(usize, Arc<Tensor>)> {
    let successors = model.outlet_successors(OutletId::new(id, 0));
    let [inlet] = successors else { return None };
    let next = model.node(inlet.node);
    let binary = next.op_as::<TypedBinOp>()?;
    if binary.0.name() != op || binary.1.is_some() || next.inputs.len() != 2 {
        return None;
    }
    if model.outlet_fact(OutletId::new(next.id, 0)).ok()?.shape != fact.shape {
        return None;
    }
    let other = next.inputs[1 - inlet.slot];
    let konst = model.outlet_fact(other).ok()?.konst.clone()?;
    let shape = konst.shape();
    let broadcast_last = shape.iter().rev().skip(1).all(|&d| d == 1);
    (konst.datum_type() == f32::datum_type() && broadcast_last).then_some((next.id, konst))
}

/// Whether the einsum is `[.., m.., k..] x W[k.., n..] -> [m.. and n.. in order, unit axes
/// anywhere]`: returns the number of contracted axes, the output's axes, k and n.
fn layout(
    einsum: &EinSum,
    lhs: &TypedFact,
    weights: &Tensor,
) -> Option<(usize, Vec<OutAxis>, usize, usize)> {
    let (lhs_rank, w_shape) = (lhs.rank(), weights.shape());
    let mut contracted = Vec::new(); // (lhs position, weight position)
    let mut rows = Vec::new(); // (lhs position, output position)
    let mut cols = Vec::new(); // (weight position, output position)
    let mut output = vec![OutAxis::One; einsum.axes.rank(InOut::Out(0))];
    for axis in einsum.axes.iter_all_axes() {
        let (a, w, o) = (&axis.inputs[0], &axis.inputs[1], &axis.outputs[0]);
        match (a.as_slice(), w.as_slice(), o.as_slice()) {
            ([a], [w], []) => contracted.push((*a, *w)),
            ([a], [], [o]) => rows.push((*a, *o)),
            ([], [w], [o]) => cols.push((*w, *o)),
            ([a], [], []) if lhs.shape[*a].is_one() => {}
            ([], [w], []) if w_shape[*w] == 1 => {}
            ([], [], [_]) => {}
            _ => return None,
        }
    }
    contracted.sort_unstable();
    rows.sort_unstable();
    cols.sort_unstable();
    let nc = contracted.len();
    let trailing = contracted
        .iter()
        .enumerate()
        .all(|(i, &(a, w))| a == lhs_rank - nc + i && w == i);
    let cols_follow =
        cols.iter().enumerate().all(|(i, &(w, _))| w == nc + i) && nc + cols.len() == w_shape.len();
    let rows_first = rows.iter().all(|&(a, _)| a < lhs_rank - nc);
    // Output order: rows as in the left-hand side, then the columns, unit axes anywhere.
    let order: Vec<usize> = rows
        .iter()
        .map(|r| r.1)
        .chain(cols.iter().map(|c| c.1))
        .collect();
    if nc == 0 || cols.is_empty() || !trailing || !cols_follow || !rows_first || !order.is_sorted()
    {
        return None;
    }
    for &(a, o) in &rows {
        output[o] = OutAxis::Lhs(a);
    }
    for &(w, o) in &cols {
        output[o] = OutAxis::Cols(w_shape[w]);
    }
    let k = w_shape[..nc].iter().product();
    let n = w_shape[nc..].iter().product();
    Some((nc, output, k, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed kernel against a plain triple loop, on shapes with every kind of tail.
    #[test]
    fn sums_match_a_plain_matmul() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 7),
            (4, 8, 8),
            (9, 17, 21),
            (64, 128, 384),
            (5, 512, 128),
        ] {
            let int8: Vec<i8> = (0..k * n)
                .map(|i| ((i * 37 + 11) % 256) as u8 as i8)
                .collect();
            let q: Vec<i16> = (0..m * k)
                .map(|i| ((i * 7919) % 65535) as i32 - 32767)
                .map(|v| v as i16)
                .collect();
            let (packed, k_pad) = pack(&int8, k, n);
            let mut padded = vec![0i16; m * k_pad];
            for r in 0..m {
                padded[r * k_pad..r * k_pad + k].copy_from_slice(&q[r * k..(r + 1) * k]);
            }
            let n_pad = n.div_ceil(TILE_N) * TILE_N;
            let mut sums = vec![0i32; m * n_pad];
            gemm(&padded, m, k_pad, &packed, n_pad, &mut sums);
            for r in 0..m {
                for c in 0..n {
                    let want: i64 = (0..k)
                        .map(|i| i64::from(q[r * k + i]) * i64::from(int8[i * n + c]))
                        .sum();
                    assert_eq!(
                        i64::from(sums[r * n_pad + c]),
                        want,
                        "({m}, {k}, {n}) at ({r}, {c})"
                    );
                }
            }
        }
    }

    #[test]
    fn rows_quantize_within_half_a_step() {
        let values = [
            0.5f32, -1.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, -0.001, 2.9, 1e-6,
        ];
        let (q, scales) = quantize_rows(&values, 3, 4, 4, 32767.0);
        assert_eq!(scales[1], 0.0, "a row of zeros");
        assert!(q[4..8].iter().all(|&v| v == 0));
        for r in [0, 2] {
            for i in 0..4 {
                let back = f32::from(q[r * 4 + i]) * scales[r];
                assert!((back - values[r * 4 + i]).abs() <= scales[r] / 2.0 + 1e-9);
            }
        }
        assert_eq!(q[8], 32767, "the largest value maps to q_max");
    }
}

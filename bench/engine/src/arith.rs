//! Arithmetic yardsticks: how many multiply-adds a run of the model does (tract's own cost
//! model), and how many this CPU can do per second through wasm `simd128` (the physical
//! ceiling the matmuls are measured against in `bench/RESULTS.md`).

use std::error::Error;
#[cfg(target_arch = "wasm32")]
use std::hint::black_box;
#[cfg(target_arch = "wasm32")]
use std::time::Instant;

use serde_json::{json, Value};
use tract_onnx::tract_core::ops::Cost;
use tract_onnx::tract_core::prelude::*;
use triage_core::model::SequenceModel;

/// Multiply-adds of one run at `tokens` tokens, summed over the optimised plan's nodes from
/// each op's `cost` (`Cost::FMA`, by datum type), with the matmul nodes' share apart.
///
/// Errors: a node whose cost tract cannot state, or a count that stays symbolic.
pub fn macs(model: &SequenceModel, tokens: usize) -> Result<Value, Box<dyn Error>> {
    let graph = model.plan().model();
    let symbol = graph.symbols.sym("S");
    let values = SymbolValues::default().with(&symbol, tokens as i64);
    let (mut total, mut matmul) = (0i64, 0i64);
    for node in graph.nodes() {
        let facts = graph.node_input_facts(node.id)?;
        for (cost, count) in node.op.cost(&facts)? {
            if let Cost::FMA(_) = cost {
                let count = count.eval_to_i64(&values)?;
                total += count;
                if node.op.name().contains("MatMul") {
                    matmul += count;
                }
            }
        }
    }
    Ok(json!({"tokens": tokens, "macs": total, "matmul_macs": matmul}))
}

/// Peak multiply-adds per second of this CPU through the wasm instructions a matmul kernel
/// can use: `f32x4.mul` + `f32x4.add` (4 per pair, what tract's f32 kernels do; simd128 has
/// no fused multiply-add) and `i32x4.dot_i16x8_s` + `i32x4.add` (8 per pair). And the two
/// ways a kernel could exploit ternary weights (each -1, 0 or +1), where a multiply-add is
/// an add, a subtract or nothing: two bit-planes of the weights select what to add and
/// what to subtract (`acc + (x & plus) - (x & minus)`, 8 per four instructions), or a
/// sign multiply into 16-bit accumulators (`acc + x * w` in `i16x8`, 8 per pair, which
/// overflows after a few hundred terms of 8-bit activations). Each is [`CHAINS`]
/// independent dependency chains, enough to cover the instructions' latency, so the figure
/// is throughput, not latency.
/// Wasm only: natively it answers an error (the native kernels use AVX2 and FMA, another
/// ceiling).
pub fn peak(iterations: usize) -> Result<Value, Box<dyn Error>> {
    #[cfg(target_arch = "wasm32")]
    {
        let f32_s = seconds(|| f32_chains(iterations));
        let i16_s = seconds(|| i16_chains(iterations));
        let select_s = seconds(|| ternary_select_chains(iterations));
        let mul_s = seconds(|| ternary_mul_chains(iterations));
        // CHAINS per iteration; 4 lanes of one multiply-add, or 8 lanes.
        let f32_macs = (iterations * CHAINS * 4) as f64;
        let i16_macs = (iterations * CHAINS * 8) as f64;
        Ok(json!({
            "iterations": iterations,
            "f32x4_mul_add_gmacs": f32_macs / f32_s / 1e9,
            "i32x4_dot_i16x8_gmacs": i16_macs / i16_s / 1e9,
            "ternary_select_add_gmacs": i16_macs / select_s / 1e9,
            "ternary_i16x8_mul_add_gmacs": i16_macs / mul_s / 1e9,
        }))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = iterations;
        Err("peak measures wasm simd128: run the wasm32 build of triage-bench".into())
    }
}

/// Independent chains per measurement: a multiply then an add (or a dot then an add) is
/// about 6 cycles of latency at up to 2 instructions of each per cycle, and 12 accumulators
/// plus the constants still fit x86's 16 vector registers.
#[cfg(target_arch = "wasm32")]
const CHAINS: usize = 12;

#[cfg(target_arch = "wasm32")]
fn f32_chains(iterations: usize) -> [f32; 4] {
    use std::arch::wasm32::*;
    let a = black_box(f32x4_splat(1.000_001));
    let b = black_box(f32x4_splat(0.999_999));
    let mut acc = [f32x4_splat(0.0); CHAINS];
    for _ in 0..iterations {
        for (i, acc) in acc.iter_mut().enumerate() {
            let factor = if i % 2 == 0 { a } else { b };
            *acc = f32x4_add(f32x4_mul(*acc, factor), a);
        }
    }
    let sum = acc.iter().fold(f32x4_splat(0.0), |s, v| f32x4_add(s, *v));
    [
        f32x4_extract_lane::<0>(sum),
        f32x4_extract_lane::<1>(sum),
        f32x4_extract_lane::<2>(sum),
        f32x4_extract_lane::<3>(sum),
    ]
}

#[cfg(target_arch = "wasm32")]
fn i16_chains(iterations: usize) -> [i32; 4] {
    use std::arch::wasm32::*;
    // Each chain feeds its own sum back in as the next eight i16 (values wrap; only the
    // instructions' throughput matters), so no dot can be hoisted out of the loop.
    let b = black_box(i16x8_splat(3));
    let c = black_box(i32x4_splat(-2));
    let mut acc: [v128; CHAINS] = std::array::from_fn(|i| i32x4_splat(i as i32));
    for _ in 0..iterations {
        for acc in acc.iter_mut() {
            *acc = i32x4_add(i32x4_dot_i16x8(*acc, b), c);
        }
    }
    i32_lanes(acc.iter().fold(i32x4_splat(0), |s, v| i32x4_add(s, *v)))
}

/// Seconds `chains` takes, its result handed to `black_box` so it is computed.
#[cfg(target_arch = "wasm32")]
fn seconds<T>(chains: impl FnOnce() -> T) -> f64 {
    let started = Instant::now();
    black_box(chains());
    started.elapsed().as_secs_f64()
}

/// The four i32 lanes of `v`, what the integer chains hand to `black_box`.
#[cfg(target_arch = "wasm32")]
fn i32_lanes(v: std::arch::wasm32::v128) -> [i32; 4] {
    use std::arch::wasm32::*;
    [
        i32x4_extract_lane::<0>(v),
        i32x4_extract_lane::<1>(v),
        i32x4_extract_lane::<2>(v),
        i32x4_extract_lane::<3>(v),
    ]
}

/// The 16-bit chains' sum, its low four lanes widened to i32.
#[cfg(target_arch = "wasm32")]
fn i16_sum(acc: &[std::arch::wasm32::v128; CHAINS]) -> [i32; 4] {
    use std::arch::wasm32::*;
    let sum = acc.iter().fold(i16x8_splat(0), |s, v| i16x8_add(s, *v));
    i32_lanes(i32x4_extend_low_i16x8(sum))
}

#[cfg(target_arch = "wasm32")]
fn ternary_select_chains(iterations: usize) -> [i32; 4] {
    use std::arch::wasm32::*;
    // Each chain's own sum is the next eight activations, so nothing is hoisted; `plus`
    // and `minus` are the weights' bit-planes (all ones where the weight is +1, or -1).
    let plus = black_box(i16x8(-1, 0, 0, -1, 0, -1, 0, 0));
    let minus = black_box(i16x8(0, -1, 0, 0, -1, 0, 0, -1));
    let mut acc: [v128; CHAINS] = std::array::from_fn(|i| i16x8_splat(i as i16));
    for _ in 0..iterations {
        for acc in acc.iter_mut() {
            let x = *acc;
            *acc = i16x8_sub(i16x8_add(x, v128_and(x, plus)), v128_and(x, minus));
        }
    }
    i16_sum(&acc)
}

#[cfg(target_arch = "wasm32")]
fn ternary_mul_chains(iterations: usize) -> [i32; 4] {
    use std::arch::wasm32::*;
    let w = black_box(i16x8(1, 0, -1, 1, 0, -1, 1, 0));
    let c = black_box(i16x8_splat(3));
    let mut acc: [v128; CHAINS] = std::array::from_fn(|i| i16x8_splat(i as i16));
    for _ in 0..iterations {
        for acc in acc.iter_mut() {
            *acc = i16x8_add(i16x8_mul(*acc, w), c);
        }
    }
    i16_sum(&acc)
}

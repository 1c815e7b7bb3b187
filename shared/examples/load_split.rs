//! Where loading an ONNX model goes, step by step, natively: reading the protobuf, typing
//! the graph (tract's analysis of the ONNX front-end), decluttering, optimising, planning;
//! and what skipping the optimisation would cost per run. The numbers behind the cold-start
//! levers in `bench/RESULTS.md` (2026-12-01).
//!
//! ```text
//! cargo run --release -p triage-core --example load_split -- models/spam-mini/model.onnx [rounds]
//! ```

use std::time::Instant;

use tract_onnx::prelude::*;

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn main() -> TractResult<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: load_split <model.onnx> [rounds]");
    let rounds: usize = args
        .next()
        .map_or(5, |r| r.parse().expect("rounds: a number"));
    let bytes = std::fs::read(&path)?;
    println!("| round | read | type | declutter | optimise | plan | run, 64 tokens: optimised | decluttered only |");
    println!("|---|---|---|---|---|---|---|---|");
    for round in 0..rounds {
        let started = Instant::now();
        let mut model = tract_onnx::onnx()
            .with_ignore_output_shapes(true)
            .with_ignore_value_info(true)
            .model_for_read(&mut &*bytes)?;
        let read = ms(started);
        let sequence = model.sym("S");
        for slot in 0..model.inputs.len() {
            let fact =
                InferenceFact::dt_shape(i64::datum_type(), tvec![1.to_dim(), sequence.to_dim()]);
            model.set_input_fact(slot, fact)?;
        }
        let started = Instant::now();
        let typed = model.into_typed()?;
        let typing = ms(started);
        let started = Instant::now();
        let decluttered = typed.into_decluttered()?;
        let declutter = ms(started);
        let started = Instant::now();
        let optimized = decluttered.clone().into_optimized()?;
        let optimise = ms(started);
        let started = Instant::now();
        let plan = optimized.into_runnable()?;
        let planning = ms(started);
        let unoptimized = decluttered.into_runnable()?;
        let inputs = plan.model().inputs.len();
        let feed = || -> TVec<TValue> {
            (0..inputs)
                .map(|slot| {
                    let row: Vec<i64> = (0..64)
                        .map(|i| if slot == 0 { 1000 + i } else { 1 })
                        .collect();
                    tract_ndarray::Array2::from_shape_vec((1, 64), row)
                        .expect("a 1 x 64 row")
                        .into_tvalue()
                })
                .collect()
        };
        let started = Instant::now();
        for _ in 0..20 {
            plan.run(feed())?;
        }
        let fast = ms(started) / 20.0;
        let started = Instant::now();
        for _ in 0..20 {
            unoptimized.run(feed())?;
        }
        let slow = ms(started) / 20.0;
        println!(
            "| {round} | {read:.1} ms | {typing:.1} ms | {declutter:.1} ms | {optimise:.1} ms | {planning:.2} ms | {fast:.2} ms | {slow:.2} ms |"
        );
    }
    Ok(())
}

//! Which of tract's declutter passes a model read back from NNEF needs at load: for each set
//! of passes, the time they take, the plan's node count and its inference time at 64
//! tokens, medians.
//!
//!     cargo run --release -p triage-core --features internals --example declutter_passes -- \
//!         models/spam-mini/model.nnef.tar [rounds]

use std::time::Instant;

use tract_nnef::internal::*;
use tract_nnef::tract_core::optim::Optimizer;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .context("usage: declutter_passes MODEL.nnef.tar [rounds]")?;
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(20);
    let bytes = std::fs::read(path)?;
    let sets: Vec<(&str, Option<Vec<&str>>)> = vec![
        ("none", Some(vec![])),
        ("all (TypedModel::declutter)", None),
        (
            "declutter + ChangeAxes",
            Some(vec!["declutter", "ChangeAxes"]),
        ),
        (
            "PropConst + declutter + ChangeAxes",
            Some(vec!["PropConst", "declutter", "ChangeAxes"]),
        ),
        ("ChangeAxes", Some(vec!["ChangeAxes"])),
        ("declutter", Some(vec!["declutter"])),
        (
            "all but PropagateRoi, FoldUniformMask, PropagateUniformTdim",
            Some(vec![
                "PropConst",
                "declutter",
                "PushSliceUp",
                "PushSplitDown",
                "ConcatThenEinsum",
                "ChangeAxes",
            ]),
        ),
    ];
    println!("| passes | declutter ms | optimize ms | plan nodes | inference ms at 64 tokens |");
    println!("|---|---|---|---|---|");
    for (name, keep) in sets {
        let mut declutter_ms = Vec::new();
        let mut optimize_ms = Vec::new();
        let mut plan = None;
        for _ in 0..rounds.min(10) {
            let mut typed = triage_core::nnef::read(&bytes)?;
            let started = Instant::now();
            match &keep {
                None => typed.declutter()?,
                Some(names) if names.is_empty() => {}
                Some(names) => {
                    let mut optimizer = Optimizer::declutter();
                    optimizer
                        .passes
                        .retain(|p| names.contains(&format!("{p:?}").as_str()));
                    optimizer.optimize(&mut typed)?;
                }
            }
            let decluttered = Instant::now();
            typed.optimize()?;
            let optimized = Instant::now();
            declutter_ms.push((decluttered - started).as_secs_f64() * 1e3);
            optimize_ms.push((optimized - decluttered).as_secs_f64() * 1e3);
            plan = Some(typed.into_runnable()?);
        }
        let plan = plan.context("no round")?;
        let nodes = plan.model().nodes().len();
        let inputs: TVec<TValue> = plan
            .model()
            .input_outlets()?
            .iter()
            .map(|_| {
                // Token id 1 and mask 1 everywhere: a valid input for timing.
                Ok(tract_ndarray::Array2::<i64>::ones((1, 64)).into_tvalue())
            })
            .collect::<TractResult<_>>()?;
        let mut runs = Vec::new();
        for _ in 0..rounds * 10 {
            let started = Instant::now();
            plan.run(inputs.clone())?;
            runs.push(started.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "| {name} | {:.2} | {:.2} | {nodes} | {:.3} |",
            median(declutter_ms),
            median(optimize_ms),
            median(runs)
        );
    }
    Ok(())
}

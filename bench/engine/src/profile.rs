//! tract's per-node profile: every node of the optimised plan timed as it runs.

use std::collections::BTreeMap;
use std::error::Error;
use std::time::Instant;

use serde_json::{json, Value};
use tract_onnx::tract_core::plan::{eval, SimpleState};
use triage_core::model::SequenceModel;

/// Runs the model `iterations` times on `ids` (after one untimed run) and returns the
/// microseconds spent in each node and in each kind of op, summed over the runs, with the
/// whole runs' total for comparison (the difference is tract's own bookkeeping).
pub fn by_node(
    model: &SequenceModel,
    ids: &[i64],
    iterations: usize,
) -> Result<Value, Box<dyn Error>> {
    let plan = model.plan();
    let mut state = SimpleState::new(plan)?;
    state.run(model.inputs(ids)?)?;
    let mut per_node: BTreeMap<usize, f64> = BTreeMap::new();
    let started = Instant::now();
    for _ in 0..iterations {
        state.run_plan_with_eval(model.inputs(ids)?, |context, op_state, node, inputs| {
            let node_started = Instant::now();
            let outputs = eval(context, op_state, node, inputs);
            *per_node.entry(node.id).or_default() += node_started.elapsed().as_secs_f64() * 1e6;
            outputs
        })?;
    }
    let total_us = started.elapsed().as_secs_f64() * 1e6;

    let graph = plan.model();
    let mut per_op: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut nodes = Vec::new();
    for (&id, &us) in &per_node {
        let node = graph.node(id);
        let op = node.op().name().to_string();
        let entry = per_op.entry(op.clone()).or_default();
        entry.0 += us;
        entry.1 += 1;
        nodes.push(json!({"node": node.name, "op": op, "us": us}));
    }
    let ops: Vec<Value> = per_op
        .into_iter()
        .map(|(op, (us, count))| json!({"op": op, "us": us, "nodes": count}))
        .collect();
    Ok(json!({
        "tokens": ids.len(),
        "iterations": iterations,
        "total_us": total_us,
        "ops": ops,
        "nodes": nodes,
    }))
}

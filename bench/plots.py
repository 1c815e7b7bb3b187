"""The plots of bench/RESULTS.md, drawn with matplotlib as SVG from bench/report.py's results."""

import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Reproducible SVGs: no date in the metadata, stable element ids.
plt.rcParams["svg.hashsalt"] = "triage"
METADATA = {"Date": None}


def latency_by_length(results, path):
    """Inference time by input length, one line per engine and runtime (log scale)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    engines = results.get("engines")
    if engines:
        tokens = [r["tokens"] for r in engines["rows"]]
        for name, label, style in (("tract", "Triage native (tract)", "o-"),
                                   ("ort", "onnxruntime, same file, 1 thread", "s--"),
                                   ("ort-f32", "onnxruntime, f32 weights, 1 thread", "s:"),
                                   ("tract-wasm", "Triage wasm, wasmtime", "^-")):
            ax.plot(tokens, [r[name]["p50_ms"] for r in engines["rows"]], style, label=label)
    cloudflare = results.get("cloudflare")
    if cloudflare and cloudflare.get("per_run"):
        rows = cloudflare["per_run"]
        ax.plot([r["tokens"] for r in rows], [r["workerd_ms"] for r in rows], "v-",
                label="Triage wasm, workerd (one run per text of a batch)")
    spin = results.get("spin")
    if spin:
        rows = spin["rows"]
        ax.plot([r["tokens"] for r in rows], [r["snapshot_client_ms"] for r in rows], "d-.",
                label="Spin: whole request, fresh instance")
    ax.axhline(2.0, color="grey", linewidth=0.8)
    ax.annotate("goal: 2 ms at 64 tokens in wasm", (100, 1.75), fontsize=8, color="grey")
    ax.set_xscale("log", base=2)
    ax.set_xticks([16, 32, 64, 128, 256], ["16", "32", "64", "128", "256"])
    ax.set_yscale("log")
    ax.set_xlabel("tokens")
    ax.set_ylabel("median ms (log)")
    ax.set_title("spam-mini inference by input length")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata=METADATA)
    plt.close(fig)


def runtimes(results, path):
    """Per runtime: inference at 64 tokens against native, cold start, and HTTP under load."""
    fig, (ratio_ax, cold_ax, load_ax) = plt.subplots(1, 3, figsize=(13, 4))
    bars = []
    engines = results.get("engines")
    e64 = next((r for r in engines["rows"] if r["tokens"] == 64), None) if engines else None
    if e64:
        bars += [("onnxruntime\nsame file", e64["ort"]["p50_ms"] / e64["tract"]["p50_ms"]),
                 ("onnxruntime\nf32 weights", e64["ort-f32"]["p50_ms"] / e64["tract"]["p50_ms"]),
                 ("wasmtime", e64["wasm_over_native"])]
    cloudflare = results.get("cloudflare")
    w64 = next((r for r in cloudflare.get("per_run", []) if r["tokens"] == 64), None) if cloudflare else None
    if w64:
        bars.append(("workerd", w64["ratio"]))
    if bars:
        ratio_ax.bar([b[0] for b in bars], [b[1] for b in bars], color="tab:blue")
    ratio_ax.axhline(1.0, color="black", linewidth=0.8)
    ratio_ax.axhline(1.5, color="grey", linestyle="--", linewidth=0.8, label="wasm goal 1.5x")
    ratio_ax.set_title("time at 64 tokens / Triage native")
    ratio_ax.tick_params(axis="x", labelsize=8)
    ratio_ax.legend(fontsize=8)

    cold = []
    spin = results.get("spin")
    if spin:
        cold += [("wasmtime\npre-initialised", spin["rows"][0]["snapshot_client_ms"]),
                 ("wasmtime\nplain", spin["rows"][0]["plain_client_ms"])]
    if cloudflare and cloudflare["cold_ms"]:
        cold.append(("workerd\nfresh isolate", statistics.median(cloudflare["cold_ms"])))
    if cold:
        cold_ax.bar([c[0] for c in cold], [c[1] for c in cold], color="tab:orange")
    cold_ax.axhline(30, color="grey", linestyle="--", linewidth=0.8, label="goal 30 ms")
    cold_ax.set_yscale("log")
    cold_ax.set_title("cold start to first answer, ms (log)")
    cold_ax.legend(fontsize=8)

    load = results.get("load")
    if load:
        names = [r["adapter"] for r in load["rows"]]
        x = range(len(names))
        load_ax.bar([i - 0.2 for i in x], [r["p50_ms"] for r in load["rows"]], 0.4, label="p50")
        load_ax.bar([i + 0.2 for i in x], [r["p99_ms"] for r in load["rows"]], 0.4, label="p99")
        load_ax.set_xticks(list(x), [f"{n}\n{r['rps']:.0f} req/s" for n, r in zip(names, load["rows"])])
        load_ax.set_title(f"HTTP, {load['connections']} connections, ms")
        load_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata=METADATA)
    plt.close(fig)


def draw(results, directory):
    directory.mkdir(parents=True, exist_ok=True)
    latency_by_length(results, directory / "latency-by-length.svg")
    runtimes(results, directory / "runtimes.svg")

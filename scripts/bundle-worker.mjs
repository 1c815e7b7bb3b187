// The JavaScript half of scripts/build-worker: what workers-rs' worker-build (0.8) does after
// wasm-bindgen, for a worker built with panic=abort.
//
//   node scripts/bundle-worker.mjs <dir> <shim.js>
//
// <dir> holds wasm-bindgen's `--target module` output (index.js, index_bg.wasm, snippets/);
// <shim.js> is worker-build's shim, read from the pinned worker-build crate. Like
// worker-build, this fills the shim's $HANDLERS with the module's exported handlers (fetch,
// queue, scheduled, email and connect get the env and ctx of the WorkerEntrypoint), wraps
// exported classes in the shim's panic-recovery proxy, bundles everything but the wasm into
// index.js with esbuild, and turns wasm-bindgen's source-phase import of the wasm into the
// plain import workerd takes.
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";

const [dir, shimPath] = process.argv.slice(2);
if (!dir || !shimPath) {
  console.error("usage: node scripts/bundle-worker.mjs <dir> <shim.js>");
  process.exit(2);
}
const index = join(dir, "index.js");
const module = readFileSync(index, "utf8");

// Each `export` declaration, one per line or minified, as worker-build reads them.
const exportDecls = [...module.matchAll(/(?:^|[\s;}])(export [^\n]*)/g)].map((m) => m[1]);
const system = new Set(["__wbg_reset_state", "__worker_init_state"]);
const functions = [];
const classes = [];
for (const decl of exportDecls) {
  let m;
  if ((m = decl.match(/^export (?:async )?function\s*([\w$]+)\s*\(/))) functions.push(m[1]);
  else if ((m = decl.match(/^export \{[^}]*? as ([\w$]+)\s*\}/))) functions.push(m[1]);
  else if ((m = decl.match(/^export class ([\w$]+)\s*(?:extends [^{]*)?\{/))) classes.push(m[1]);
}
const entrypoints = new Set(["fetch", "queue", "scheduled", "email", "connect"]);
const handlers = functions
  .filter((name) => !system.has(name))
  .map((name) =>
    entrypoints.has(name)
      ? `Entrypoint.prototype.${name} = function ${name} (arg) {\n` +
        `  return exports.${name}.call(this, arg, this.env, this.ctx);\n}\n`
      : `Entrypoint.prototype.${name} = exports.${name};\n`,
  )
  .join("");
if (!functions.includes("fetch")) {
  console.error(`[bundle-worker] ${index} exports no fetch handler`);
  process.exit(1);
}
let shim = readFileSync(shimPath, "utf8");
if (!shim.includes("$HANDLERS")) {
  console.error(`[bundle-worker] ${shimPath} has no $HANDLERS: not worker-build's shim.js?`);
  process.exit(1);
}
shim = shim.replace("$HANDLERS", () => handlers);
for (const name of classes) {
  shim += `export const ${name} = new Proxy(exports.${name}, classProxyHooks);\n`;
}
writeFileSync(join(dir, "shim.js"), shim);

execFileSync(
  "esbuild",
  [
    "--external:./index_bg.wasm",
    "--external:cloudflare:*",
    "--format=esm",
    "--bundle",
    "./shim.js",
    "--outfile=index.js",
    "--allow-overwrite",
    "--minify",
    "--log-level=warning",
  ],
  { cwd: dir, stdio: "inherit" },
);
writeFileSync(index, readFileSync(index, "utf8").replaceAll("import source ", "import "));
rmSync(join(dir, "shim.js"));
rmSync(join(dir, "snippets"), { recursive: true, force: true });

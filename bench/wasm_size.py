#!/usr/bin/env python3
"""Which crates take a wasm module's bytes: code by crate (from the function names in its
`name` section), data, and the rest.

    python3 bench/wasm_size.py MODULE.wasm [--shipped SHIPPED.wasm] [--variant NAME=WASM]...
                               [--top 15] [--json PATH]

Give a module that still has its names: cargo's output before wasm-opt
(`target/wasm32-unknown-unknown/worker/triage_cloudflare.wasm` after `scripts/build-worker`).
wasm-opt shrinks the code afterwards, so the shares, not the bytes, carry over to the shipped
module. A function is counted under the crate its name starts with (`<T as Trait>` under T's
crate); what has no such name is `(unnamed)`. Each `--variant` is another shipped build
(the classify-only worker), measured whole beside it.
"""
import argparse
import collections
import gzip
import json
import re
import sys


def leb(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def name(buf, pos):
    length, pos = leb(buf, pos)
    return buf[pos:pos + length].decode("utf-8", "replace"), pos + length


def sections(buf):
    if buf[:4] != b"\0asm":
        sys.exit("not a wasm module")
    pos = 8
    while pos < len(buf):
        kind = buf[pos]
        size, start = leb(buf, pos + 1)
        yield kind, start, start + size
        pos = start + size


def imported_functions(buf, start):
    count, pos = leb(buf, start)
    functions = 0
    for _ in range(count):
        _, pos = name(buf, pos)
        _, pos = name(buf, pos)
        kind = buf[pos]
        pos += 1
        if kind == 0:
            _, pos = leb(buf, pos)
            functions += 1
        elif kind == 1:
            pos += 1
            flags, pos = leb(buf, pos + 0)
            _, pos = leb(buf, pos)
            if flags & 1:
                _, pos = leb(buf, pos)
        elif kind == 2:
            flags, pos = leb(buf, pos)
            _, pos = leb(buf, pos)
            if flags & 1:
                _, pos = leb(buf, pos)
        elif kind == 3:
            pos += 2
        elif kind == 4:
            pos += 1
            _, pos = leb(buf, pos)
    return functions


CRATE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def crate_of(symbol):
    """The crate a Rust symbol (legacy mangling, `_ZN<len><name>...E`) belongs to: its first
    path component, or for `<T as Trait>` impls T's first one."""
    m = re.match(r"_ZN(\d+)", symbol)
    if not m:
        return "(C, runtime or unnamed)"
    first = symbol[m.end():m.end() + int(m.group(1))]
    if "$LT$" in first:
        first = first.split("$LT$", 1)[1]
        for prefix in ("$RF$", "mut$u20$", "dyn$u20$", "$BP$", "$u5b$", "$LP$"):
            while first.startswith(prefix):
                first = first[len(prefix):]
    first = first.lstrip("_")
    crate = CRATE.match(first)
    return crate.group(0) if crate else "(C, runtime or unnamed)"


def measure(path):
    """A module's bytes, gzip -9 bytes, and its code and data sections' (bytes, gzip)."""
    buf = open(path, "rb").read()
    out = {"bytes": len(buf), "gzip": len(gzip.compress(buf, 9))}
    for kind, start, end in sections(buf):
        key = {10: "code", 11: "data"}.get(kind)
        if key:
            out[key] = [end - start, len(gzip.compress(buf[start:end], 9))]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("--shipped", help="the module as deployed (after wasm-opt), measured whole")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=WASM",
                        help="another shipped build, measured whole (repeatable; skipped if absent)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--json")
    args = parser.parse_args()
    buf = open(args.module, "rb").read()
    imports, bodies, names = 0, [], {}
    totals = collections.Counter()
    gzipped = collections.Counter()
    for kind, start, end in sections(buf):
        if kind == 2:
            imports = imported_functions(buf, start)
        elif kind == 10:
            count, pos = leb(buf, start)
            for _ in range(count):
                size, body = leb(buf, pos)
                bodies.append(body + size - pos)
                pos = body + size
            totals["code"] += end - start
            gzipped["code"] += len(gzip.compress(buf[start:end], 9))
        elif kind == 11:
            totals["data"] += end - start
            gzipped["data"] += len(gzip.compress(buf[start:end], 9))
        elif kind == 0:
            section, pos = name(buf, start)
            totals[f"custom `{section}`"] += end - start
            if section == "name":
                while pos < end:
                    sub = buf[pos]
                    size, pos = leb(buf, pos + 1)
                    if sub == 1:
                        count, p = leb(buf, pos)
                        for _ in range(count):
                            index, p = leb(buf, p)
                            names[index], p = name(buf, p)
                    pos += size
        else:
            totals["other sections"] += end - start
    by_crate = collections.Counter()
    for i, size in enumerate(bodies):
        by_crate[crate_of(names.get(imports + i, ""))] += size
    code = sum(bodies)
    print(f"{args.module}: {len(buf):,} bytes ({len(gzip.compress(buf, 9)):,} gzip -9); "
          f"code section {totals['code']:,} ({gzipped['code']:,} gzip), "
          f"data section {totals['data']:,} ({gzipped['data']:,} gzip)\n")
    print("| crate | code bytes | share of code |")
    print("|---|---|---|")
    for crate, size in by_crate.most_common(args.top):
        print(f"| {crate} | {size:,} | {100 * size / code:.1f}% |")
    rest = sum(size for _, size in by_crate.most_common()[args.top:])
    print(f"| {len(by_crate) - args.top} other crates | {rest:,} | {100 * rest / code:.1f}% |")
    shipped = measure(args.shipped) if args.shipped else None
    if shipped:
        print(f"\nshipped {args.shipped}: {shipped['bytes']:,} bytes ({shipped['gzip']:,} gzip -9); "
              f"code {shipped['code'][0]:,} ({shipped['code'][1]:,} gzip), "
              f"data {shipped['data'][0]:,} ({shipped['data'][1]:,} gzip)")
    variants = []
    for variant in args.variant:
        label, _, path = variant.partition("=")
        try:
            variants.append({"name": label, "path": path, **measure(path)})
        except FileNotFoundError:
            print(f"\n{label}: {path} is not built, left out")
            continue
        v = variants[-1]
        print(f"\n{label} {path}: {v['bytes']:,} bytes ({v['gzip']:,} gzip -9); "
              f"code {v['code'][0]:,} ({v['code'][1]:,} gzip), data {v['data'][0]:,} ({v['data'][1]:,} gzip)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"module": args.module, "bytes": len(buf), "sections": totals,
                       "sections_gzip": gzipped, "code": code, "top": args.top,
                       "code_by_crate": by_crate.most_common(), "shipped": shipped,
                       "variants": variants}, f, indent=1)


if __name__ == "__main__":
    main()

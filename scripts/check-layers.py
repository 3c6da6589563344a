#!/usr/bin/env python3
"""The import rule of docs/architecture.md, checked: a module of src/ may use only modules of
its own layer or a lower one. The layer order and the few allowed exceptions are read from
the fenced `layers` block of docs/architecture.md, so the document is what is enforced.

Prints every upward import (file, line, from -> to) that is not a listed exception and
every import cycle between modules (two modules of one layer may use each other only
through a third, lower one), and exits non-zero when there is one, or when an exception
listed is no longer needed (the list must stay true). Test modules (`#[cfg(test)] mod tests`) are left out: tests may reach up.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
SRC = ROOT / "src"


def read_rules():
    text = DOC.read_text()
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    if not m:
        sys.exit(f"check-layers: no ```layers block in {DOC}")
    layers, allowed = {}, set()
    for n, line in enumerate(m.group(1).splitlines()):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("allow "):
            a, _, b = line[len("allow "):].partition("->")
            allowed.add((a.strip(), b.strip()))
            continue
        level, _, names = line.partition(":")
        for name in names.split():
            layers[name] = int(level)
    return layers, allowed


def cycles(edges):
    """Each elementary cycle of the module graph once, by its smallest module first."""
    found = set()
    def walk(start, node, path):
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                found.add(tuple(path))
            elif nxt not in path and nxt > start:
                walk(start, nxt, path + [nxt])
    for start in sorted(edges):
        walk(start, start, [start])
    return [list(c) for c in sorted(found)]


def main():
    layers, allowed = read_rules()
    used_exceptions = set()
    problems = []
    edges = {}
    for f in sorted(SRC.rglob("*.rs")):
        rel = f.relative_to(SRC)
        top = rel.parts[0].removesuffix(".rs")
        if top in ("main", "lib") or f.name == "tests.rs":
            continue
        if top not in layers:
            problems.append(f"{rel}: module `{top}` has no layer in {DOC.name}")
            continue
        text = f.read_text()
        cut = text.find("#[cfg(test)]\nmod tests")
        if cut >= 0:
            text = text[:cut]
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("//"):
                continue
            for m in re.finditer(r"\bcrate::([a-z_]+)", line):
                to = m.group(1)
                if to == top or to not in layers:
                    continue
                edges.setdefault(top, set()).add(to)
                if layers[to] > layers[top]:
                    if (top, to) in allowed:
                        used_exceptions.add((top, to))
                        continue
                    problems.append(f"{rel}:{lineno}: {top} (layer {layers[top]}) uses {to} (layer {layers[to]})")
    for cycle in cycles(edges):
        problems.append("import cycle: " + " -> ".join(cycle + [cycle[0]]))
    for a, b in sorted(allowed - used_exceptions):
        problems.append(f"{DOC.name}: exception `allow {a} -> {b}` is no longer needed; remove it")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(f"check-layers: {len(problems)} problem(s); see docs/architecture.md for the rule")
    print(f"check-layers: every import runs down the layer order ({len(allowed)} listed exception(s))", file=sys.stderr)


if __name__ == "__main__":
    main()

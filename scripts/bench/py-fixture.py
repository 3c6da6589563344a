#!/usr/bin/python3
"""Builds the Python fixture of scripts/bench.sh: a deterministic set of synthetic packages
for a local PEP 503 index (pypiserver's simple-dir: one flat directory of files), and a
project depending on the top layer of them.

    py-fixture.py --packages-dir DIR --project DIR [--packages N] [--seed S]

Shapes, like the npm fixture's (scripts/bench/npm-fixture.js), scaled to what a Python
project has:
  - layers 0 (leaves) .. 3 (top); a package depends on 0-4 packages of lower layers, mostly
    the layer just below;
  - a package is a wheel (py3-none-any) of 3-8 files: an import package with modules of
    varied sizes, some data, and the dist-info (METADATA with Requires-Dist, WHEEL, RECORD);
    a few have a console script (entry_points.txt);
  - about 10% are published as an sdist only, with an in-tree PEP 517 backend (backend-path,
    no build requirements to fetch) whose build_wheel does small real work: it hashes the
    sources and writes the digest into the wheel it builds. A warm cache holds the wheel
    built the first time, as it does for a user.
The project gets requirements.txt (for pip and `uv pip install`) and pyproject.toml (for
`uv sync`; a virtual project, not installed itself). The same seed always gives
byte-identical files.
"""

import argparse
import base64
import hashlib
import io
import os
import random
import tarfile
import zipfile

WORDS = ("alpha beta gamma delta parse format stream buffer token cache queue graph node tree walk "
         "merge split join encode decode hash color path glob match event emit listen retry timeout "
         "value option config schema valid error result iterate reduce filter sort compare range "
         "string number object array module export import resolve load read write file link watch").split()

# Fixed times, so archives are byte-identical from run to run.
EPOCH = (1985, 10, 26, 8, 15, 0)
MTIME = 499162500

BACKEND = '''"""In-tree PEP 517 backend of a safe-install benchmark sdist: builds a pure wheel of the
package directory, after small real work (a digest of the sources, written into the wheel)."""
import base64, hashlib, os, zipfile

NAME, VERSION, REQUIRES = {name!r}, {version!r}, {requires!r}


def _dist():
    return NAME.replace("-", "_")


def get_requires_for_build_wheel(config_settings=None):
    return []


def _metadata():
    lines = ["Metadata-Version: 2.1", "Name: " + NAME, "Version: " + VERSION]
    lines += ["Requires-Dist: " + r for r in REQUIRES]
    return "\\n".join(lines) + "\\n"


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = "%s-%s.dist-info" % (_dist(), VERSION)
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    with open(os.path.join(metadata_directory, info, "METADATA"), "w") as f:
        f.write(_metadata())
    return info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {{}}
    digest = hashlib.sha256()
    for d, dirs, names in os.walk(_dist()):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                data = f.read()
            digest.update(data)
            files[p] = data
    files[_dist() + "/_build_stamp.py"] = ("SHA256 = %r\\n" % digest.hexdigest()).encode()
    info = "%s-%s.dist-info" % (_dist(), VERSION)
    files[info + "/METADATA"] = _metadata().encode()
    files[info + "/WHEEL"] = b"Wheel-Version: 1.0\\nGenerator: si-bench\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    record = []
    for p, data in files.items():
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (p, h, len(data)))
    record.append(info + "/RECORD,,")
    files[info + "/RECORD"] = ("\\n".join(record) + "\\n").encode()
    name = "%s-%s-py3-none-any.whl" % (_dist(), VERSION)
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for p, data in files.items():
            z.writestr(p, data)
    return name
'''


def prose(r, size):
    out, n = [], 0
    while n < size:
        line = " ".join(r.choice(WORDS) for _ in range(r.randint(6, 16))).capitalize() + "."
        out.append(line)
        n += len(line) + 1
    return "\n".join(out) + "\n"


def module(r, size, deps):
    lines = ['"""%s"""' % prose(r, 60).strip()]
    lines += ["import %s" % d.replace("-", "_") for d in deps]
    n, i = 0, 0
    while n < size:
        name = "%s_%s_%d" % (r.choice(WORDS), r.choice(WORDS), i)
        i += 1
        body = "\n".join([
            "def %s(value, **options):" % name,
            "    # %s" % prose(r, 60).strip().replace("\n", " "),
            "    out = [str(value) + %r + str(i) for i in range(%d)]" % (r.choice(WORDS), r.randint(2, 64)),
            "    return %r.join(out) if options.get(%r) else out" % (r.choice("-.:/"), r.choice(WORDS)),
            "",
        ])
        lines.append(body)
        n += len(body)
    return "\n".join(lines) + "\n"


def graph(r, total):
    shares = [0.45, 0.3, 0.15, 0.1]
    layers = [[] for _ in shares]
    pkgs = []
    for i in range(total):
        acc, layer = 0.0, len(shares) - 1
        for li, s in enumerate(shares):
            acc += s
            if i / total < acc:
                layer = li
                break
        name = "sib-%s-%s-%03d" % (r.choice(WORDS), r.choice(WORDS), i)
        p = {"name": name, "layer": layer, "deps": set()}
        layers[layer].append(p)
        pkgs.append(p)
    for p in pkgs:
        if p["layer"] == 0:
            continue
        for _ in range(r.randint(0 if p["layer"] == 1 else 1, 4)):
            below = p["layer"] - 1 if r.random() < 0.7 else r.randint(0, p["layer"] - 1)
            p["deps"].add(r.choice(layers[below])["name"])
    # Everything is reachable from the project: an unused package becomes a dependency of one
    # a layer up (all of the top layer is in the project).
    for li in range(len(shares) - 2, -1, -1):
        wanted = {d for q in layers[li + 1] for d in q["deps"]}
        for p in layers[li]:
            if p["name"] not in wanted:
                r.choice(layers[li + 1])["deps"].add(p["name"])
    for p in pkgs:
        p["sdist"] = r.random() < 0.1
        p["script"] = p["layer"] >= 2 and r.random() < 0.15
    return pkgs, layers[-1]


def sources(r, p):
    dist = p["name"].replace("-", "_")
    files = {}
    mods = ["core"] + ["%s_%d" % (r.choice(WORDS), i) for i in range(r.randint(0, 4))]
    for m in mods:
        files["%s/%s.py" % (dist, m)] = module(r, r.randint(1500, 12000), sorted(p["deps"]) if m == "core" else [])
    files[dist + "/__init__.py"] = "".join("from .%s import *  # noqa\n" % m for m in mods)
    if r.random() < 0.4:
        files[dist + "/data.txt"] = prose(r, r.randint(500, 6000))
    return {k: v.encode() for k, v in files.items()}


def metadata(p, version):
    lines = ["Metadata-Version: 2.1", "Name: " + p["name"], "Version: " + version]
    lines += ["Requires-Dist: " + d for d in sorted(p["deps"])]
    return ("\n".join(lines) + "\n").encode()


def write_wheel(out, p, files, version):
    dist = p["name"].replace("-", "_")
    info = "%s-%s.dist-info" % (dist, version)
    files = dict(files)
    files[info + "/METADATA"] = metadata(p, version)
    files[info + "/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: si-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if p["script"]:
        files[info + "/entry_points.txt"] = ("[console_scripts]\n%s = %s.core:main\n" % (p["name"], dist)).encode()
        files[dist + "/core.py"] += b"\n\ndef main():\n    print(len(globals()))\n"
    record = []
    for path, data in files.items():
        h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, h, len(data)))
    record.append(info + "/RECORD,,")
    files[info + "/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(os.path.join(out, "%s-%s-py3-none-any.whl" % (dist, version)), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(zipfile.ZipInfo(path, EPOCH), data, zipfile.ZIP_DEFLATED)


def write_sdist(out, p, files, version):
    dist = p["name"].replace("-", "_")
    root = "%s-%s" % (dist, version)
    files = dict(files)
    files["backend.py"] = BACKEND.format(name=p["name"], version=version, requires=sorted(p["deps"])).encode()
    files["pyproject.toml"] = (
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
        '[project]\nname = "%s"\nversion = "%s"\ndependencies = [%s]\n'
        % (p["name"], version, ", ".join('"%s"' % d for d in sorted(p["deps"])))).encode()
    files["PKG-INFO"] = metadata(p, version)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path in sorted(files):
            info = tarfile.TarInfo("%s/%s" % (root, path))
            info.size, info.mtime, info.mode = len(files[path]), MTIME, 0o644
            t.addfile(info, io.BytesIO(files[path]))
    import gzip
    with open(os.path.join(out, root + ".tar.gz"), "wb") as f:
        f.write(gzip.compress(raw.getvalue(), mtime=MTIME))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packages-dir", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--packages", type=int, default=80)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    r = random.Random(args.seed)
    pkgs, top = graph(r, args.packages)
    os.makedirs(args.packages_dir, exist_ok=True)
    os.makedirs(args.project, exist_ok=True)
    nfiles = 0
    for p in pkgs:
        files = sources(r, p)
        nfiles += len(files)
        (write_sdist if p["sdist"] else write_wheel)(args.packages_dir, p, files, "1.0.0")
    names = sorted(p["name"] for p in top)
    with open(os.path.join(args.project, "requirements.txt"), "w") as f:
        f.write("".join("%s==1.0.0\n" % n for n in names))
    with open(os.path.join(args.project, "pyproject.toml"), "w") as f:
        f.write('[project]\nname = "si-bench-py"\nversion = "1.0.0"\nrequires-python = ">=3.8"\n'
                "dependencies = [\n%s]\n\n[tool.uv]\npackage = false\n"
                % "".join('  "%s==1.0.0",\n' % n for n in names))
    print("generated %d packages (%d sdists with an in-tree backend, %d with a console script, "
          "%d source files); project depends on %d"
          % (len(pkgs), sum(p["sdist"] for p in pkgs), sum(p["script"] and not p["sdist"] for p in pkgs),
             nfiles, len(names)))


if __name__ == "__main__":
    main()

#!/usr/bin/env node
// Builds the npm fixture of scripts/bench.sh: a deterministic set of synthetic packages
// published into a local Verdaccio, and a project depending on the top layer of them.
//
//   node npm-fixture.js --registry http://127.0.0.1:PORT/ --project DIR [--packages N] [--seed S]
//                       [--token-out FILE] [--scripted-out FILE]
//
// --scripted-out writes the names of the packages with an install script, one a line: what a
// project approves in its package manager's list (npm 12 allowScripts, pnpm allowBuilds, yarn
// dependenciesMeta) so that they run.
// The same seed always gives byte-identical tarballs, so runs compare with each other.
// Shapes, chosen to look like a real dependency tree:
//   - layers 0 (leaves) .. 4 (top); a package depends on 0-5 packages of lower layers,
//     mostly the layer just below, so the tree is 5 deep and shares many dependencies;
//   - about 7% of the names have a 1.x and a 2.x, and dependents pick one major, so npm
//     has to nest some copies instead of hoisting everything;
//   - 2-6 files per package (index.js, lib/*.js, README.md, data.json, LICENSE) of
//     varied sizes, about 4-50 KB unpacked; some packages are scoped, some have a `bin`;
//   - about 10 packages run an `install` or `postinstall` script that does small real
//     work: node reads its own sources, hashes them and writes a file into its directory.
// Publishing speaks the registry's publish API (what `npm publish` sends: one PUT per
// version with the tarball attached) with a token of a user it creates, in parallel.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const zlib = require('zlib');

function parseArgs(argv) {
  const args = { packages: 360, seed: 20240601, top: 40 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${argv[i]}`);
    args[key] = ['packages', 'seed', 'top'].includes(key) ? Number(value) : value;
  }
  for (const need of ['registry', 'project']) {
    if (!args[need]) throw new Error(`--${need} is required`);
  }
  if (!args.registry.endsWith('/')) args.registry += '/';
  return args;
}

// mulberry32: a tiny seeded PRNG, so the fixture does not depend on Math.random.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  next.pick = (xs) => xs[Math.floor(next() * xs.length)];
  return next;
}

const WORDS = ('alpha beta gamma delta parse format stream buffer token cache queue graph ' +
  'node tree walk merge split join encode decode hash color path glob match event emit ' +
  'listen retry timeout value option config schema valid error result async promise ' +
  'iterate reduce filter map sort compare range semver string number object array ' +
  'module export import resolve load read write file dir link watch spawn child process')
  .split(' ');

function prose(r, bytes) {
  const out = [];
  let n = 0;
  while (n < bytes) {
    const len = r.int(6, 16);
    const sentence = [];
    for (let i = 0; i < len; i++) sentence.push(r.pick(WORDS));
    const s = sentence.join(' ');
    const line = s[0].toUpperCase() + s.slice(1) + '.';
    out.push(line);
    n += line.length + 1;
  }
  return out.join('\n') + '\n';
}

function jsModule(r, bytes, deps) {
  const lines = ["'use strict';"];
  for (const d of deps) lines.push(`const ${ident(d)} = require('${d}');`);
  let n = 0;
  let i = 0;
  while (n < bytes) {
    const name = `${r.pick(WORDS)}${r.pick(WORDS)[0].toUpperCase()}${r.pick(WORDS).slice(1)}${i++}`;
    const body = [
      `function ${name}(input, options) {`,
      `  // ${prose(r, 60).trim()}`,
      `  const out = [];`,
      `  for (let i = 0; i < ${r.int(2, 64)}; i++) out.push(String(input) + '${r.pick(WORDS)}' + i);`,
      `  return options && options.${r.pick(WORDS)} ? out.join('${r.pick(['-', '.', ':', '/'])}') : out;`,
      `}`,
      `exports.${name} = ${name};`,
    ].join('\n');
    lines.push(body);
    n += body.length;
  }
  return lines.join('\n') + '\n';
}

function ident(name) {
  return '_' + name.replace(/[^A-Za-z0-9]/g, '_');
}

// --- the package graph -------------------------------------------------------------

function buildGraph(args) {
  const r = rng(args.seed);
  const total = args.packages;
  // Fractions of each layer, leaves first; layer 4 is the top the project picks from.
  const shares = [0.38, 0.27, 0.17, 0.1, 0.08];
  const layers = shares.map(() => []);
  const pkgs = [];
  for (let i = 0; i < total; i++) {
    let acc = 0;
    let layer = 0;
    const pos = i / total;
    for (let l = 0; l < shares.length; l++) {
      acc += shares[l];
      if (pos < acc) { layer = l; break; }
      layer = l;
    }
    const base = `${r.pick(WORDS)}-${r.pick(WORDS)}-${String(i).padStart(3, '0')}`;
    const scoped = r() < 0.12;
    const name = scoped ? `@sib${r.int(1, 3)}/${base}` : `sib-${base}`;
    const pkg = { name, layer, majors: r() < 0.07 && layer < 4 ? [1, 2] : [1], index: i };
    layers[layer].push(pkg);
    pkgs.push(pkg);
  }
  // Dependencies per (package, major): mostly the layer below, sometimes further down.
  for (const pkg of pkgs) {
    pkg.deps = {};
    for (const major of pkg.majors) {
      const deps = {};
      if (pkg.layer > 0) {
        const count = r.int(pkg.layer === 1 ? 0 : 1, 5);
        for (let k = 0; k < count; k++) {
          const from = r() < 0.7 ? pkg.layer - 1 : r.int(0, pkg.layer - 1);
          const dep = r.pick(layers[from]);
          deps[dep.name] = `^${r.pick(dep.majors)}.0.0`;
        }
      }
      pkg.deps[major] = deps;
    }
  }
  // Every version is reachable from the project: a (name, major) nobody asked for
  // becomes a dependency of a package one layer up (all of layer 4 is in the project).
  for (let l = 3; l >= 0; l--) {
    const wanted = new Set();
    for (const p of layers[l + 1]) {
      for (const m of p.majors) for (const [d, range] of Object.entries(p.deps[m])) wanted.add(`${d}@${range}`);
    }
    for (const pkg of layers[l]) {
      for (const major of pkg.majors) {
        if (wanted.has(`${pkg.name}@^${major}.0.0`)) continue;
        for (;;) {
          const parent = r.pick(layers[l + 1]);
          const deps = parent.deps[r.pick(parent.majors)];
          if (deps[pkg.name]) continue;
          deps[pkg.name] = `^${major}.0.0`;
          break;
        }
      }
    }
  }
  // Lifecycle scripts: about 10 packages spread over the layers.
  const scripted = new Set();
  while (scripted.size < Math.min(10, total)) scripted.add(r.int(0, total - 1));
  for (const i of scripted) pkgs[i].script = r() < 0.3 ? 'install' : 'postinstall';
  // A few command-line tools.
  for (const pkg of pkgs) pkg.bin = pkg.layer >= 2 && r() < 0.08;
  // The project's dependencies: all of layer 4, then layer 3 until `top` are chosen.
  const top = [...layers[4], ...layers[3].slice(0, Math.max(0, args.top - layers[4].length))];
  return { pkgs, top, r };
}

// The lifecycle script: small but real work (read, hash, write into its own directory).
const SCRIPT_JS = `'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const here = __dirname;
const files = fs.readdirSync(here).concat(fs.readdirSync(path.join(here, 'lib')).map((f) => 'lib/' + f));
const hash = crypto.createHash('sha256');
for (const f of files.sort()) {
  const p = path.join(here, f);
  if (fs.statSync(p).isFile()) hash.update(fs.readFileSync(p));
}
const out = { event: process.env.npm_lifecycle_event, files: files.length, sha256: hash.digest('hex') };
fs.writeFileSync(path.join(here, 'build-stamp.json'), JSON.stringify(out) + '\\n');
`;

function packageFiles(pkg, major, r) {
  const version = `${major}.0.0`;
  const deps = pkg.deps[major];
  const manifest = {
    name: pkg.name,
    version,
    description: prose(r, 60).split('\n')[0],
    main: 'index.js',
    license: 'MIT',
    keywords: [r.pick(WORDS), r.pick(WORDS)],
    dependencies: deps,
  };
  const files = {};
  const libCount = r.int(1, 4);
  const libs = [];
  for (let i = 0; i < libCount; i++) {
    const f = `lib/${r.pick(WORDS)}-${i}.js`;
    libs.push(f);
    files[f] = jsModule(r, r.int(1500, 11000), []);
  }
  files['index.js'] = jsModule(r, r.int(500, 3000), Object.keys(deps)) +
    libs.map((f) => `Object.assign(exports, require('./${f}'));`).join('\n') + '\n';
  files['README.md'] = `# ${pkg.name}\n\n${prose(r, r.int(1500, 8000))}`;
  if (r() < 0.4) {
    const data = {};
    for (let i = 0; i < r.int(10, 300); i++) data[`${r.pick(WORDS)}${i}`] = r.int(0, 1e6);
    files['data.json'] = JSON.stringify(data, null, 2) + '\n';
  }
  if (r() < 0.6) files['LICENSE'] = `MIT License\n\n${prose(r, 900)}`;
  if (pkg.script) {
    files['lifecycle.js'] = SCRIPT_JS;
    manifest.scripts = { [pkg.script]: 'node lifecycle.js' };
  }
  if (pkg.bin) {
    const cmd = pkg.name.replace(/^@[^/]+\//, '');
    files['bin/cli.js'] = `#!/usr/bin/env node\nconsole.log(Object.keys(require('..')).length);\n`;
    manifest.bin = { [cmd]: 'bin/cli.js' };
  }
  files['package.json'] = JSON.stringify(manifest, null, 2) + '\n';
  return { manifest, files };
}

// --- tarballs ----------------------------------------------------------------------

// npm's fixed mtime for reproducible packs (1985-10-26T08:15:00Z).
const MTIME = 499162500;

function tarHeader(name, size, mode) {
  const h = Buffer.alloc(512);
  if (Buffer.byteLength(name) > 100) throw new Error(`path too long for ustar: ${name}`);
  h.write(name, 0, 'utf8');
  h.write(mode.toString(8).padStart(7, '0') + '\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write(MTIME.toString(8).padStart(11, '0') + '\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function tarball(files) {
  const parts = [];
  for (const name of Object.keys(files).sort()) {
    const data = Buffer.from(files[name]);
    const mode = name.startsWith('bin/') ? 0o755 : 0o644;
    parts.push(tarHeader(`package/${name}`, data.length, mode), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return zlib.gzipSync(Buffer.concat(parts), { level: 9 });
}

// --- the registry API --------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

function request(url, method, body, token) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const headers = { 'content-type': 'application/json', 'content-length': data.length };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode >= 300) {
          reject(new Error(`${method} ${url}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
        } else {
          resolve(text ? JSON.parse(text) : {});
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function addUser(registry) {
  const name = 'bench';
  const password = crypto.randomBytes(12).toString('hex');
  const res = await request(`${registry}-/user/org.couchdb.user:${name}`, 'PUT',
    { name, password, type: 'user' });
  if (!res.token) throw new Error(`no token in the registry's answer: ${JSON.stringify(res)}`);
  return res.token;
}

function publishDoc(registry, manifest, tgz) {
  const name = manifest.name;
  const file = `${name.replace(/^@[^/]+\//, '')}-${manifest.version}.tgz`;
  const version = {
    ...manifest,
    _id: `${name}@${manifest.version}`,
    dist: {
      integrity: 'sha512-' + crypto.createHash('sha512').update(tgz).digest('base64'),
      shasum: crypto.createHash('sha1').update(tgz).digest('hex'),
      tarball: `${registry}${name}/-/${file}`,
    },
  };
  return {
    _id: name,
    name,
    description: manifest.description,
    'dist-tags': { latest: manifest.version },
    versions: { [manifest.version]: version },
    access: null,
    _attachments: {
      [`${name}-${manifest.version}.tgz`]: {
        content_type: 'application/octet-stream',
        data: tgz.toString('base64'),
        length: tgz.length,
      },
    },
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const { pkgs, top, r } = buildGraph(args);
  // Generate everything first (deterministic order), then publish in parallel; the
  // versions of one name go in order, lowest first, so `latest` ends on the highest.
  const jobs = pkgs.map((pkg) => pkg.majors.map((major) => {
    const { manifest, files } = packageFiles(pkg, major, r);
    const tgz = tarball(files);
    const unpacked = Object.values(files).reduce((n, s) => n + Buffer.byteLength(s), 0);
    return { manifest, tgz, unpacked, nfiles: Object.keys(files).length };
  }));
  const token = await addUser(args.registry);
  // The credentialed benchmarks install with this user's token.
  if (args['token-out']) fs.writeFileSync(args['token-out'], token, { mode: 0o600 });
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const versions = jobs[next++];
      for (const v of versions) {
        const url = `${args.registry}${v.manifest.name.replace('/', '%2f')}`;
        await request(url, 'PUT', publishDoc(args.registry, v.manifest, v.tgz), token);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  agent.destroy();

  const dependencies = {};
  for (const pkg of top) dependencies[pkg.name] = `^${pkg.majors[pkg.majors.length - 1]}.0.0`;
  fs.mkdirSync(args.project, { recursive: true });
  fs.writeFileSync(path.join(args.project, 'package.json'), JSON.stringify({
    name: 'si-bench-project',
    version: '1.0.0',
    private: true,
    description: 'safe-install benchmark project (generated by scripts/bench/npm-fixture.js)',
    dependencies,
  }, null, 2) + '\n');
  fs.writeFileSync(path.join(args.project, '.npmrc'), `registry=${args.registry}\n`);

  if (args['scripted-out']) {
    const scripted = pkgs.filter((p) => p.script).map((p) => p.name).sort();
    fs.writeFileSync(args['scripted-out'], scripted.map((n) => n + '\n').join(''));
  }

  const all = jobs.flat();
  const kb = (n) => (n / 1024).toFixed(0);
  const unpacked = all.map((v) => v.unpacked).sort((a, b) => a - b);
  console.log(`published ${pkgs.length} packages (${all.length} versions, ` +
    `${all.filter((v) => v.manifest.scripts).length} with lifecycle scripts, ` +
    `${all.filter((v) => v.manifest.bin).length} with bin) in ${((Date.now() - started) / 1000).toFixed(1)}s; ` +
    `tarballs ${kb(all.reduce((n, v) => n + v.tgz.length, 0))} KB, ` +
    `unpacked ${kb(unpacked.reduce((a, b) => a + b, 0))} KB ` +
    `(per package ${kb(unpacked[0])}-${kb(unpacked[unpacked.length - 1])} KB, ` +
    `${Math.min(...all.map((v) => v.nfiles))}-${Math.max(...all.map((v) => v.nfiles))} files); ` +
    `project depends on ${top.length}`);
}

main().catch((e) => {
  console.error(`npm-fixture.js: ${e.stack || e}`);
  process.exit(1);
});

//! yarn as its own package manager: the registries it reaches come from yarn's own
//! configuration (yarn 1's `.yarnrc`, yarn 4's `.yarnrc.yml`) and, when nothing is
//! configured, from the default in yarn's shipped source, read as text. Only 127.0.0.1 is
//! contacted.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use crate::common::servers::*;
use crate::common::toolchains::toolchain_bin;
use crate::common::trees::{diff_trees, snapshot_tree, Tree};
use crate::common::*;

/// `PATH` with toolchain `name` first.
fn path_with(name: &str) -> OsString {
    let mut dirs = vec![toolchain_bin(name)];
    dirs.extend(std::env::split_paths(SYSTEM_PATH));
    std::env::join_paths(dirs).expect("PATH")
}

/// The host of the first `http(s)://` string literal after `marker` in `file`: how the test
/// knows yarn's default registry without naming it (a different reading from the product's).
fn default_host_in(file: &Path, marker: &str) -> String {
    let text = fs::read_to_string(file).expect("read yarn's source");
    let at = text.find(marker).unwrap_or_else(|| {
        panic!("{marker} not in {}", file.display());
    });
    let rest = &text[at..];
    let start = rest.find("https://").expect("a URL after the marker") + "https://".len();
    let host: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect();
    assert!(host.contains('.'), "no host after {marker}: {host}");
    host
}

/// The toolchain's package directory (`<toolchain>/lib`, holding yarn's `package.json`).
fn yarn_package(name: &str) -> std::path::PathBuf {
    toolchain_bin(name)
        .parent()
        .expect("toolchain root")
        .join("lib")
}

fn explain(world: &World, toolchain: &str) -> String {
    let out = run(
        world
            .safe_install()
            .env("PATH", path_with(toolchain))
            .args(["explain", "--", "yarn", "install"]),
        RUN_TIMEOUT,
    );
    out.assert_success();
    out.stdout.clone()
}

fn allow_lines(explain: &str) -> Vec<&str> {
    explain
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("allow "))
        .collect()
}

#[test]
fn yarn1_default_registry_is_read_from_its_source() {
    let world = World::new("yarn1-default");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    let host = default_host_in(
        &yarn_package("yarn1").join("lib/cli.js"),
        "var YARN_REGISTRY = ",
    );
    let text = explain(&world, "yarn1");
    let allow = allow_lines(&text);
    assert_eq!(allow.len(), 1, "{text}");
    assert!(
        allow[0].starts_with(&format!("allow {host}:443 "))
            && allow[0].contains("yarn 1's default"),
        "{text}"
    );
    assert!(
        text.contains("`/bin/sh -c <script>`") && !text.contains("package manager's level"),
        "{text}"
    );
}

#[test]
fn yarn4_default_registry_is_read_from_its_source() {
    let world = World::new("yarn4-default");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    // An .npmrc is not yarn 4's configuration: its registry must not be allowed.
    write_file(
        &world.project.join(".npmrc"),
        "registry=http://127.0.0.1:9/\n",
    );
    let host = default_host_in(
        &yarn_package("yarn4").join("bin/yarn.js"),
        "npmRegistryServer:{",
    );
    let text = explain(&world, "yarn4");
    let allow = allow_lines(&text);
    assert_eq!(allow.len(), 1, "{text}");
    assert!(
        allow[0].starts_with(&format!("allow {host}:443 "))
            && allow[0].contains("npmRegistryServer"),
        "{text}"
    );
}

#[test]
fn yarn1_with_a_cold_cache_reaches_the_registry_of_its_yarnrc() {
    let world = World::new("yarn1-yarnrc");
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let tarball = pack_npm_fixture(&world, "benign");
    publish_npm(&world, &tarball, &server, &token);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-benign\": \"1.0.0\" } }\n",
    );
    // Only yarn's own file names the registry: no .npmrc anywhere.
    write_file(
        &world.project.join(".yarnrc"),
        &format!("registry \"{}\"\n", server.url),
    );
    let text = explain(&world, "yarn1");
    assert!(
        allow_lines(&text)
            .iter()
            .any(|l| l.starts_with(&format!("allow 127.0.0.1:{} ", server.port))),
        "{text}"
    );
    assert!(
        !world.home.join(".cache/yarn").exists(),
        "the cache is not cold"
    );
    let out = run(
        world.safe_install().env("PATH", path_with("yarn1")).args([
            "--",
            "yarn",
            "install",
            "--non-interactive",
            "--no-progress",
        ]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{}\n--- verdaccio ---\n{}",
        out.describe(),
        server.log()
    );
    assert!(
        !out.stderr.contains("package manager's level"),
        "the run says its scripts are not at level 2:\n{}",
        out.describe()
    );
    assert!(
        world
            .project
            .join("node_modules/si-benign/package.json")
            .is_file(),
        "si-benign was not installed:\n{}",
        out.describe()
    );
    let lock = fs::read_to_string(world.project.join("yarn.lock")).expect("yarn.lock");
    assert!(
        lock.contains(&format!("127.0.0.1:{}", server.port)),
        "the package did not come from the registry of .yarnrc:\n{lock}"
    );
}

/// Where a yarn keeps the packages it fetched, as the probe finds si-benign there.
#[derive(Debug, Clone, Copy)]
struct ProbeCache {
    /// Relative to the home.
    dir: &'static str,
    /// How si-benign's entry there starts.
    prefix: &'static str,
    /// The file the probe appends to, relative to the entry (empty: the entry itself).
    file: &'static str,
}

/// yarn 4's global cache: one zip per package.
const YARN4_CACHE: ProbeCache = ProbeCache {
    dir: ".yarn/berry/cache",
    prefix: "si-benign-npm-",
    file: "",
};

/// yarn 1's cache: one unpacked folder per package.
const YARN1_CACHE: ProbeCache = ProbeCache {
    dir: ".cache/yarn/v6",
    prefix: "npm-si-benign-",
    file: "node_modules/si-benign/package.json",
};

/// A package whose approved postinstall tries the network (the registry itself), a
/// credential (the project's `.env`), a write to the project root, one to another
/// package (si-benign's folder: `node_modules/si-benign`, or its unplugged folder under
/// PnP), one to `node_modules/.bin` and two to yarn's cache (si-benign's entry, a new
/// zip), and records each outcome in its own directory.
fn stage_probe(world: &World, port: u16, cache: ProbeCache) -> std::path::PathBuf {
    let dir = world.root().join("staging/si-yarn-probe");
    write_file(
        &dir.join("package.json"),
        "{ \"name\": \"si-yarn-probe\", \"version\": \"1.0.0\", \"license\": \"MIT\",\n  \"scripts\": { \"postinstall\": \"node probe.js\" } }\n",
    );
    write_file(
        &dir.join("probe.js"),
        &format!(
            r#"const fs = require('fs'), http = require('http'), path = require('path');
const out = {{}};
const project = process.env.INIT_CWD || path.resolve('../..');
const done = () => fs.writeFileSync('probe-report.json', JSON.stringify(out));
function attempt(name, f) {{ try {{ f(); out[name] = 'succeeded'; }} catch (e) {{ out[name] = String(e.code || e); }} }}
attempt('env', () => {{ const t = fs.readFileSync(path.join(project, '.env'), 'utf8'); if (!t.includes('SECRET')) throw {{code: 'empty'}}; }});
attempt('root', () => fs.writeFileSync(path.join(project, 'si-yarn-root-write'), 'x'));
// Files that run later, outside any sandbox (CI, the editor, an agent, direnv, yarn run).
for (const [name, rel] of [['later_workflow', '.github/workflows/si-pwned.yml'], ['later_vscode', '.vscode/tasks.json'], ['later_claude', '.claude/settings.json'], ['later_envrc', '.envrc']])
  attempt(name, () => {{ fs.mkdirSync(path.dirname(path.join(project, rel)), {{recursive: true}}); fs.writeFileSync(path.join(project, rel), '{{}}\n'); }});
attempt('later_package_json', () => fs.appendFileSync(path.join(project, 'package.json'), '\n'));
// The package manager's own compile cache (Node loads it as compiled code at its next run):
// scripts are not told where it is, so they guess.
out.compile_cache_var = process.env.NODE_COMPILE_CACHE || 'unset';
// What /bin/sh is here (yarn 1: safe-install's system-shell gate).
out.sh_size = fs.statSync('/bin/sh').size;
attempt('later_compile_cache', () => fs.writeFileSync(path.join(require('os').homedir(), '.cache/safe-install/node-compile-cache/si-planted'), 'x'));
function other() {{
  const unplugged = path.join(project, '.yarn/unplugged');
  const pnp = fs.existsSync(unplugged) && fs.readdirSync(unplugged).find(d => d.startsWith('si-benign-npm-'));
  return pnp ? path.join(unplugged, pnp, 'node_modules/si-benign') : path.join(project, 'node_modules/si-benign');
}}
attempt('other', () => fs.writeFileSync(path.join(other(), 'si-yarn-pwned'), 'x'));
// `node_modules/.bin` (none under PnP): an entry that runs later, whoever types its name.
const bin = path.join(project, 'node_modules/.bin');
if (fs.existsSync(bin)) attempt('bin', () => fs.writeFileSync(path.join(bin, 'si-yarn-planted'), '#!/bin/sh\n'));
else out.bin = 'no .bin';
// yarn's cache (what every later install on this machine extracts): si-benign's entry, and
// a new zip beside it.
const cache = path.join(require('os').homedir(), '{cache_dir}');
const zip = (() => {{ try {{ return fs.readdirSync(cache).find(f => f.startsWith('{cache_prefix}')); }} catch (e) {{ return undefined; }} }})();
out.cache_zip_file = zip ? path.join(cache, zip, '{cache_file}') : null;
attempt('cache_zip', () => fs.appendFileSync(out.cache_zip_file, 'x'));
attempt('cache_new', () => fs.writeFileSync(path.join(cache, 'si-planted.zip'), 'x'));
const req = http.get({{host: '127.0.0.1', port: {port}, path: '/si-benign', timeout: 5000}}, res => {{ out.net = 'HTTP ' + res.statusCode; done(); }});
req.on('error', e => {{ out.net = String(e.code || e); done(); }});
req.on('timeout', () => {{ out.net = 'timeout'; req.destroy(); }});
"#,
            cache_dir = cache.dir,
            cache_prefix = cache.prefix,
            cache_file = cache.file,
        ),
    );
    dir
}

/// How yarn 4 lays out the installed packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Linker {
    /// `nodeLinker: node-modules`: `node_modules/<name>`.
    NodeModules,
    /// `nodeLinker: pnp` (yarn's default): packages stay zipped in the cache; those with
    /// scripts are unplugged into `.yarn/unplugged/<name>-npm-<version>-<hash>/node_modules/<name>`.
    Pnp,
}

impl Linker {
    fn setting(self) -> &'static str {
        match self {
            Linker::NodeModules => "node-modules",
            Linker::Pnp => "pnp",
        }
    }

    /// Where package `name` is installed in `project` (the first match), whether or not it
    /// exists.
    fn dir(self, project: &Path, name: &str) -> std::path::PathBuf {
        match self {
            Linker::NodeModules => project.join("node_modules").join(name),
            Linker::Pnp => {
                let unplugged = project.join(".yarn/unplugged");
                let prefix = format!("{name}-npm-");
                fs::read_dir(&unplugged)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                    .map(|e| e.path().join("node_modules").join(name))
                    .unwrap_or_else(|| unplugged.join(format!("{prefix}?/node_modules/{name}")))
            }
        }
    }
}

/// A yarn 4 project (`nodeLinker` as `linker` says) depending on si-benign and the probe,
/// both approved with `dependenciesMeta.<name>.built`, against Verdaccio over HTTPS. Returns
/// the world, the server, the port the probe tries and what reached it.
fn yarn4_world(name: &str, linker: Linker) -> (World, Server, u16, Seen) {
    let world = World::new(name);
    // The host the probe tries to reach: a loopback listener that records what arrives.
    let (probe_port, seen) = recording_server("127.0.0.1");
    let benign = pack_npm_fixture(&world, "benign");
    let probe = pack_npm_dir(&world, &stage_probe(&world, probe_port, YARN4_CACHE));
    let server = yarn4_project(
        &world,
        linker,
        &[(&benign, "si-benign"), (&probe, "si-yarn-probe")],
    );
    (world, server, probe_port, seen)
}

/// `packages` (tarball, name) published to a Verdaccio served over HTTPS, and a yarn 4
/// project (`nodeLinker` as `linker` says) depending on each at `1.0.0`, each approved with
/// `dependenciesMeta.<name>.built`. Returns the server.
fn yarn4_project(world: &World, linker: Linker, packages: &[(&Path, &str)]) -> Server {
    let dir = world.root().join("verdaccio");
    // Packages published over plain HTTP (the harness's npm), then the same storage served
    // over HTTPS: yarn 4 tunnels every request through the proxy with CONNECT.
    {
        let plain = start_verdaccio(&dir);
        let token = verdaccio_add_user(&plain, "si-tester", "si-tester-password");
        for (tarball, _) in packages {
            publish_npm(world, tarball, &plain, &token);
        }
    }
    let ca = test_ca(&world.root().join("ca"));
    let server = start_verdaccio_full(&dir, None, Some(&ca));
    // Where the sandbox shows it (the world's root is under the private /tmp), under a name
    // the hidden-file rules leave alone (`*.pem` is hidden).
    let ca_inside = world.project.join("registry-ca.txt");
    fs::copy(&ca.ca, &ca_inside).expect("copy the CA");
    let dependencies: serde_json::Map<String, serde_json::Value> = packages
        .iter()
        .map(|(_, name)| (name.to_string(), "1.0.0".into()))
        .collect();
    let built: serde_json::Map<String, serde_json::Value> = packages
        .iter()
        .map(|(_, name)| (name.to_string(), serde_json::json!({ "built": true })))
        .collect();
    write_file(
        &world.project.join("package.json"),
        &serde_json::to_string_pretty(&serde_json::json!({
            "name": "si-yarn",
            "version": "1.0.0",
            "private": true,
            "dependencies": dependencies,
            "dependenciesMeta": built,
        }))
        .expect("json"),
    );
    write_file(
        &world.project.join(".yarnrc.yml"),
        &format!(
            "nodeLinker: {}\nnpmRegistryServer: \"{}\"\nhttpsCaFilePath: \"{}\"\nnpmMinimalAgeGate: 0\nenableTelemetry: false\nenableScripts: true\n",
            linker.setting(),
            server.url,
            ca_inside.display()
        ),
    );
    write_file(&world.project.join("yarn.lock"), "");
    server
}

/// A bare `yarn install --mode=skip-build` with the home the sandboxed runs have: the tree
/// linked, the user's cache warm, no package code run (the next install runs the builds).
fn yarn4_warm(world: &World) {
    let warm = run(
        world
            .setup_command(toolchain_bin("yarn4").join("yarn"))
            .env("PATH", path_with("yarn4"))
            .env("HOME", &world.home)
            .args(["install", "--mode=skip-build"]),
        RUN_TIMEOUT,
    );
    assert!(warm.status.success(), "{}", warm.describe());
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// yarn 4's global cache for the world's home (`enableGlobalCache` is yarn 4's default:
/// `~/.yarn/berry/cache`).
fn yarn4_cache(world: &World) -> std::path::PathBuf {
    world.home.join(".yarn/berry/cache")
}

/// The probe's attempts on files that run later: its report's key, the action refused and
/// the target's tail (`mkdir` of the directory is the first write refused).
const LATER: &[(&str, &str, &str)] = &[
    ("later_workflow", "write", "/.github"),
    ("later_vscode", "write", "/.vscode"),
    ("later_claude", "write", "/.claude"),
    ("later_envrc", "write", "/.envrc"),
    ("later_package_json", "write", "/package.json"),
    // The package manager's Node compile cache, which its next run loads as compiled code.
    (
        "later_compile_cache",
        "write",
        "/.cache/safe-install/node-compile-cache/si-planted",
    ),
];

#[test]
fn yarn4_approved_postinstall_runs_at_level_2_and_is_attributed() {
    approved_postinstall_runs_at_level_2(Linker::NodeModules);
}

/// The same with PnP, yarn's default: the approved scripts run in their unplugged folders,
/// which they may write (the probe's report), at level 2.
#[test]
fn yarn4_pnp_approved_postinstall_runs_at_level_2_in_its_unplugged_folder() {
    approved_postinstall_runs_at_level_2(Linker::Pnp);
}

fn approved_postinstall_runs_at_level_2(linker: Linker) {
    let (world, server, probe_port, seen) = yarn4_world(
        match linker {
            Linker::NodeModules => "yarn4-level2",
            Linker::Pnp => "yarn4-pnp-level2",
        },
        linker,
    );
    // The user's cache is warm (yarn fetched everything before, its builds skipped), so the
    // sandboxed install adds nothing to it: any change is a script's.
    yarn4_warm(&world);
    let cache = yarn4_cache(&world);
    let cache_before = snapshot_tree(&cache, world.root(), &|_: &Path| false);
    assert!(
        cache_before.len() >= 2,
        "the warm install left no cache at {}",
        cache.display()
    );
    let log = world.log_path("yarn4");
    let out = run(
        world
            .safe_install()
            .env("PATH", path_with("yarn4"))
            .arg("--log")
            .arg(&log)
            .args(["--", "yarn", "install"]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success(),
        "{}\n--- verdaccio ---\n{}",
        out.describe(),
        server.log()
    );
    let report_path = linker
        .dir(&world.project, "si-yarn-probe")
        .join("probe-report.json");
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&report_path).unwrap_or_else(|e| {
            panic!(
                "no probe report ({e}): the postinstall did not run\n{}",
                out.describe()
            )
        }))
        .expect("probe report");
    for attempt in ["env", "root", "other", "net", "cache_zip", "cache_new"]
        .into_iter()
        .chain(LATER.iter().map(|(a, ..)| *a))
    {
        let got = report[attempt].as_str().unwrap_or_default();
        // The proxy answers a refused request itself (403); only a 200 came from the host.
        assert!(
            got != "succeeded" && got != "HTTP 200",
            "the postinstall's {attempt} attempt succeeded: {report}\n{}",
            out.describe()
        );
    }
    // The compile cache exists (made before the run) and only the package manager's level
    // writes it: refused by Landlock, and never named to the script.
    assert_eq!(
        (&report["later_compile_cache"], &report["compile_cache_var"]),
        (&serde_json::json!("EACCES"), &serde_json::json!("unset")),
        "{report}"
    );
    assert!(
        seen.lock().expect("seen").is_empty(),
        "the probe's request reached the host"
    );
    let benign = linker.dir(&world.project, "si-benign");
    assert!(!world.project.join("si-yarn-root-write").exists());
    assert!(!benign.join("si-yarn-pwned").exists());
    if linker == Linker::NodeModules {
        assert!(
            report["bin"] != "succeeded"
                && !world
                    .project
                    .join("node_modules/.bin/si-yarn-planted")
                    .exists(),
            "the postinstall planted a .bin entry: {report}"
        );
    }
    assert!(
        benign.join("build/artefact.txt").is_file(),
        "the benign package's approved postinstall did not run ({})\n{}",
        benign.display(),
        out.describe()
    );
    if linker == Linker::Pnp {
        assert!(
            world.project.join(".pnp.cjs").is_file()
                && !world.project.join("node_modules").exists(),
            "not a PnP install"
        );
    }
    let cache_zip = report["cache_zip_file"]
        .as_str()
        .filter(|z| z.starts_with(&format!("{}/si-benign-npm-", cache.display())))
        .unwrap_or_else(|| {
            panic!(
                "the probe found no si-benign zip in {}: {report}",
                cache.display()
            )
        })
        .to_string();
    let cache_new = format!("{}/si-planted.zip", cache.display());
    assert_cache_unchanged(&world, &cache, &cache_before);
    assert_probe_logged(
        &log,
        probe_port,
        &[&cache_zip, &cache_new],
        linker == Linker::NodeModules,
    );
}

#[test]
fn yarn4_refuses_to_start_without_the_plugin() {
    // The fail-closed half of the hook, bare: the setting safe-install puts in yarn's
    // environment stops a yarn that did not load the plugin, and is accepted once the plugin
    // (the text safe-install embeds) is listed in the home's .yarnrc.yml.
    let world = World::new("yarn4-no-plugin");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true }\n",
    );
    write_file(&world.project.join("yarn.lock"), "");
    let yarn = || {
        let mut cmd = world.setup_command(toolchain_bin("yarn4").join("yarn"));
        cmd.env("PATH", path_with("yarn4"))
            .env("YARN_SAFE_INSTALL_LEVEL2", "1")
            .env("YARN_ENABLE_TELEMETRY", "0")
            .arg("install");
        cmd
    };
    let out = run(&mut yarn(), RUN_TIMEOUT);
    assert!(
        !out.status.success() && out.stdout.contains("safeInstallLevel2"),
        "{}",
        out.describe()
    );
    let plugin = world.root().join("plugin.cjs");
    let text =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pm/yarn/plugin.cjs"))
            .expect("the plugin's source");
    write_file(&plugin, &text.replace("__SHIM__", "\"/bin/sh\""));
    write_file(
        &world.setup_home.join(".yarnrc.yml"),
        &format!("plugins:\n  - path: {}\n", plugin.display()),
    );
    run(&mut yarn(), RUN_TIMEOUT).assert_success();
}

#[test]
fn yarn4_bare_runs_the_same_postinstall_unconfined() {
    bare_runs_the_same_postinstall_unconfined(Linker::NodeModules);
}

#[test]
fn yarn4_pnp_bare_runs_the_same_postinstall_unconfined() {
    bare_runs_the_same_postinstall_unconfined(Linker::Pnp);
}

fn bare_runs_the_same_postinstall_unconfined(linker: Linker) {
    // The negative control: the same project without safe-install lets every attempt through,
    // so the tests above can fail.
    let (world, _server, _, seen) = yarn4_world(
        match linker {
            Linker::NodeModules => "yarn4-bare",
            Linker::Pnp => "yarn4-pnp-bare",
        },
        linker,
    );
    // As after any earlier sandboxed run on this machine (the bare run's home).
    fs::create_dir_all(
        world
            .setup_home
            .join(".cache/safe-install/node-compile-cache"),
    )
    .expect("mkdir the compile cache");
    let out = run(
        world
            .setup_command(toolchain_bin("yarn4").join("yarn"))
            .env("PATH", path_with("yarn4"))
            .arg("install"),
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{}", out.describe());
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            linker
                .dir(&world.project, "si-yarn-probe")
                .join("probe-report.json"),
        )
        .expect("probe report"),
    )
    .expect("probe report");
    for attempt in ["env", "root", "other", "cache_zip", "cache_new"]
        .into_iter()
        .chain(LATER.iter().map(|(a, ..)| *a))
    {
        assert_eq!(report[attempt], "succeeded", "{report}");
    }
    if linker == Linker::NodeModules {
        assert_eq!(report["bin"], "succeeded", "{report}");
    }
    assert!(
        report["net"]
            .as_str()
            .is_some_and(|n| n.starts_with("HTTP ")),
        "{report}"
    );
    assert!(
        !seen.lock().expect("seen").is_empty(),
        "the probe's request did not reach the host bare"
    );
}

/// yarn 4 sends even a plain-`http` registry's requests through the proxy with CONNECT
/// (`unsafeHttpWhitelist` lets it use `http://`): the proxy serves the HTTP inside the tunnel
/// as it serves a plain proxied request, so the install succeeds and each request is logged
/// as allowed by the registry's rule.
#[test]
fn yarn4_installs_from_a_plain_http_registry_through_the_tunnel() {
    let world = World::new("yarn4-http");
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let benign = pack_npm_fixture(&world, "benign");
    publish_npm(&world, &benign, &server, &token);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-benign\": \"1.0.0\" },\n  \"dependenciesMeta\": { \"si-benign\": { \"built\": true } } }\n",
    );
    write_file(
        &world.project.join(".yarnrc.yml"),
        &format!(
            "nodeLinker: node-modules\nnpmRegistryServer: \"{}\"\nunsafeHttpWhitelist:\n  - \"127.0.0.1\"\nnpmMinimalAgeGate: 0\nenableTelemetry: false\n",
            server.url
        ),
    );
    write_file(&world.project.join("yarn.lock"), "");
    let log = world.log_path("yarn4-http");
    let out = run(
        world
            .safe_install()
            .env("PATH", path_with("yarn4"))
            .arg("--log")
            .arg(&log)
            .arg("--log-allowed")
            .args(["--", "yarn", "install"]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success()
            && world
                .project
                .join("node_modules/si-benign/build/artefact.txt")
                .is_file(),
        "{}\n--- verdaccio ---\n{}",
        out.describe(),
        server.log()
    );
    // yarn 4's lockfile does not name the registry: the log says where yarn went.
    let events = read_log(&log);
    let target = format!("127.0.0.1:{}", server.port);
    let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    assert!(
        events.iter().any(|e| e["action"] == "proxy"
            && e["verdict"] == "allowed"
            && e["target"] == target.as_str()),
        "no allowed request to the registry in the log:\n{}",
        lines.join("\n")
    );
    assert!(
        !events
            .iter()
            .any(|e| e["verdict"] == "blocked" && e["target"] == target.as_str()),
        "a request of yarn's to its registry was refused:\n{}",
        lines.join("\n")
    );
}

/// The bare tree is a built install and the sandboxed one equals it.
fn assert_same_built_tree(bare: &World, sandboxed: &World) {
    let (want, got) = (yarn_tree(bare), yarn_tree(sandboxed));
    assert!(
        want.len() > 5 && want.keys().any(|k| k.ends_with("build/artefact.txt")),
        "the bare tree is not a built install: {:?}",
        want.keys().collect::<Vec<_>>()
    );
    let diffs = diff_trees(&want, &got);
    assert!(
        diffs.is_empty(),
        "sandboxed tree differs:\n{}",
        diffs.join("\n")
    );
}

/// yarn's cache at `cache` is as `before` (a snapshot taken with the same skip: none).
fn assert_cache_unchanged(world: &World, cache: &Path, before: &Tree) {
    let diffs = diff_trees(
        before,
        &snapshot_tree(cache, world.root(), &|_: &Path| false),
    );
    assert!(
        diffs.is_empty(),
        "yarn's cache at {} changed:\n{}",
        cache.display(),
        diffs.join("\n")
    );
}

/// Every attempt of the probe is in the log at `log` as a blocked event of
/// `si-yarn-probe@1.0.0` `postinstall`: its request to the host's `probe_port` (`connect`
/// when the kernel refused it, `proxy` when it reached the proxy), its writes to the project
/// root, another package, `.bin` (`with_bin`: not under PnP, which has none) and the files
/// that run later, its read of `.env`, and its writes to each of `cache_writes`.
fn assert_probe_logged(log: &Path, probe_port: u16, cache_writes: &[&str], with_bin: bool) {
    let events = read_log(log);
    let by_probe = |action: &str, needle: &str| {
        events.iter().any(|e| {
            (e["action"] == action || (action == "connect" && e["action"] == "proxy"))
                && e["verdict"] == "blocked"
                && e["package"] == "si-yarn-probe@1.0.0"
                && e["script"] == "postinstall"
                && e["target"].as_str().is_some_and(|t| t.contains(needle))
        })
    };
    let port = format!(":{probe_port}");
    let mut expected = vec![
        ("connect", port.as_str()),
        ("write", "si-yarn-root-write"),
        ("write", "si-yarn-pwned"),
        ("read", "/.env"),
    ];
    if with_bin {
        expected.push(("write", ".bin/si-yarn-planted"));
    }
    expected.extend(cache_writes.iter().map(|c| ("write", *c)));
    expected.extend(LATER.iter().map(|(_, action, target)| (*action, *target)));
    for (action, needle) in expected {
        assert!(
            by_probe(action, needle),
            "no blocked {action} of {needle} attributed to si-yarn-probe@1.0.0 postinstall:\n{}",
            events
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// What an installed tree holds once the probe's own traces (its script, its report, what
/// its attacks leave when they succeed bare) and yarn's state file (it names the world) are
/// left out.
fn yarn_tree(world: &World) -> Tree {
    let skip = |rel: &Path| {
        let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        matches!(
            name,
            "probe-report.json" | "si-yarn-pwned" | "si-yarn-planted" | ".yarn-state.yml"
                // yarn 1's record of the install: it names the registry's port.
                | ".yarn-integrity"
                // The probe's script names its world's listener port.
                | "probe.js"
        )
    };
    snapshot_tree(&world.project.join("node_modules"), world.root(), &skip)
}

/// The installed tree inside equals the bare one (`nodeLinker: node-modules`): level 2 takes
/// nothing away from what yarn installs and the approved scripts build.
#[test]
fn yarn4_installed_tree_equals_the_bare_one() {
    let (sandboxed, _s1, _, _) = yarn4_world("yarn4-tree", Linker::NodeModules);
    let out = run(
        sandboxed
            .safe_install()
            .env("PATH", path_with("yarn4"))
            .args(["--", "yarn", "install"]),
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{}", out.describe());
    let (bare, _s2, _, _) = yarn4_world("yarn4-tree-bare", Linker::NodeModules);
    let out = run(
        bare.setup_command(toolchain_bin("yarn4").join("yarn"))
            .env("PATH", path_with("yarn4"))
            .arg("install"),
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{}", out.describe());
    assert_same_built_tree(&bare, &sandboxed);
}

/// Issue 13 under yarn 1, which reads npm's `.npmrc` files itself: a literal token in the
/// project's `.npmrc` (and the home's) is a placeholder inside, the proxy puts the real one
/// back for the registry, and Verdaccio authenticated it. A postinstall (level 2) reads
/// both files where yarn reads them: it finds the placeholder in both and the real token
/// nowhere in them or its environment.
#[test]
fn yarn1_registry_token_is_a_placeholder_inside() {
    let world = World::new("yarn1-token");
    let scope = "@si-private";
    let server =
        crate::common::netns::start_verdaccio_private_scope(&world.root().join("verdaccio"), scope);
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let scoped = world.root().join("staging/npm-scoped");
    copy_dir(&fixtures().join("egress/npm-scoped"), &scoped);
    publish_npm(&world, &pack_npm_dir(&world, &scoped), &server, &token);
    let probe = world.root().join("staging/si-yarn1-probe");
    write_file(
        &probe.join("package.json"),
        "{ \"name\": \"si-yarn1-probe\", \"version\": \"1.0.0\", \"license\": \"MIT\",\n  \"scripts\": { \"postinstall\": \"node probe.js\" } }\n",
    );
    write_file(
        &probe.join("probe.js"),
        r#"const fs = require('fs'), path = require('path'), os = require('os');
const project = process.env.INIT_CWD;
const needle = JSON.parse(fs.readFileSync(path.join(project, 'needle.json'), 'utf8'));
const real = needle.a + needle.b;
const read = p => { try { return fs.readFileSync(p, 'utf8'); } catch (e) { return ''; } };
const files = { project: read(path.join(project, '.npmrc')), home: read(path.join(os.homedir(), '.npmrc')) };
const out = {};
for (const [k, t] of Object.entries(files)) out[k] = { real: t.includes(real), placeholder: t.includes('si-placeholder-') };
out.env_real = Object.values(process.env).some(v => v.includes(real));
fs.writeFileSync('yarn1-probe-report.json', JSON.stringify(out));
"#,
    );
    publish_npm(&world, &pack_npm_dir(&world, &probe), &server, &token);
    let half = token.len() / 2;
    write_file(
        &world.project.join("needle.json"),
        &serde_json::json!({ "a": &token[..half], "b": &token[half..] }).to_string(),
    );
    let auth = format!("//127.0.0.1:{}/:_authToken={token}\n", server.port);
    write_file(
        &world.project.join(".npmrc"),
        &format!(
            "registry={url}\n{scope}:registry={url}\n{auth}",
            url = server.url
        ),
    );
    write_file(&world.home.join(".npmrc"), &auth);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn1\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"@si-private/scoped-pkg\": \"1.0.0\", \"si-yarn1-probe\": \"1.0.0\" } }\n",
    );
    let log = world.log_path("yarn1-token");
    let out = run(
        world
            .safe_install()
            .env("PATH", path_with("yarn1"))
            .arg("--log")
            .arg(&log)
            .args([
                "--",
                "yarn",
                "install",
                "--non-interactive",
                "--no-progress",
            ]),
        RUN_TIMEOUT,
    );
    assert!(
        out.status.success()
            && world
                .project
                .join("node_modules/@si-private/scoped-pkg/index.js")
                .is_file(),
        "yarn 1 did not install the token-only package (the real token did not reach the registry)\n{}\n--- verdaccio ---\n{}",
        out.describe(),
        server.log()
    );
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            world
                .project
                .join("node_modules/si-yarn1-probe/yarn1-probe-report.json"),
        )
        .unwrap_or_else(|e| panic!("no probe report ({e})\n{}", out.describe())),
    )
    .expect("probe report");
    for file in ["project", "home"] {
        assert!(
            report[file]["real"] == false && report[file]["placeholder"] == true,
            "{file} .npmrc inside: {report}"
        );
    }
    assert_eq!(report["env_real"], false, "{report}");
    assert!(
        fs::read_to_string(world.project.join(".npmrc")).is_ok_and(|t| t.contains(&token)),
        "the project's own .npmrc changed on the host"
    );
    let vlog = server.log();
    assert!(
        vlog.lines()
            .any(|l| l.contains("si-tester") && l.contains("scoped-pkg") && l.contains("200")),
        "Verdaccio logged no authenticated request for the scoped package:\n{vlog}"
    );
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !log_text.contains(&token) && !out.stderr.contains(&token),
        "the token appears in the event log or on stderr"
    );
}

/// `safe-install --log <world's log NAME> -- ARGS` with `toolchain`'s yarn first on PATH,
/// and its log read.
fn logged_yarn(
    world: &World,
    toolchain: &str,
    name: &str,
    args: &[&str],
) -> crate::common::netns::LoggedRun {
    let log = world.log_path(name);
    crate::common::netns::LoggedRun::read(
        run(
            world
                .safe_install()
                .env("PATH", path_with(toolchain))
                .arg("--log")
                .arg(&log)
                .arg("--")
                .args(args),
            RUN_TIMEOUT,
        ),
        log,
    )
}

/// Issue 14's wiper through yarn 4 (`nodeLinker: node-modules`, approved with
/// `dependenciesMeta.si-wiper.built`): its postinstall deletes and truncates everything it
/// reaches in the project and the home (where yarn's global cache is). npm's bare control
/// (`package_writes`) proves the fixture wipes.
#[test]
fn yarn4_a_wiper_loses_nothing_outside_its_own_folder() {
    use crate::common::wiper::*;
    let world = World::new("yarn4-wiper");
    plant_project_files(&world);
    let victim = pack_plain(&world, "trust/npm-victim", "si-victim");
    let wiper = pack_wiper(&world);
    let _server = yarn4_project(
        &world,
        Linker::NodeModules,
        &[(&victim, "si-victim"), (&wiper, "si-wiper")],
    );
    // The tree linked and the cache warm before the wiper runs, in the install that builds.
    yarn4_warm(&world);
    // safe-install makes the yarn caches it shows before each run (`plan::HostAction`), yarn
    // 1's too: made here first, so that the comparison sees only what the run changed.
    fs::create_dir_all(world.home.join(".cache/yarn")).expect("mkdir");
    let skip = Skip {
        project: &[
            "node_modules/si-wiper",
            // yarn's state (level 1): it records the builds it ran.
            "node_modules/.yarn-state.yml",
            ".yarn/install-state.gz",
        ],
        home: &[],
    };
    let before = ProjectAndHome::read_with_store(&world, &skip, ".yarn/berry/cache", "");
    let r = logged_yarn(&world, "yarn4", "wiper", &["yarn", "install"]);
    let mut p = check_wiper(
        &world,
        &r,
        skip.project[0],
        &skip,
        &before,
        &[
            "/package.json",
            "/node_modules/si-victim/",
            "/.yarn/berry/cache/",
        ],
    );
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    p.finish(&r.context());
}

/// A yarn 1 project depending on si-benign and the probe (whose cache attempts aim at yarn
/// 1's cache), published to a Verdaccio its `.yarnrc` names. yarn 1 has no approval list:
/// both postinstalls run. Returns the world, the server, the port the probe tries and what
/// reached it.
fn yarn1_world(name: &str) -> (World, Server, u16, Seen) {
    let world = World::new(name);
    let (probe_port, seen) = recording_server("127.0.0.1");
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let benign = pack_npm_fixture(&world, "benign");
    publish_npm(&world, &benign, &server, &token);
    let probe = pack_npm_dir(&world, &stage_probe(&world, probe_port, YARN1_CACHE));
    publish_npm(&world, &probe, &server, &token);
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-benign\": \"1.0.0\", \"si-yarn-probe\": \"1.0.0\" } }\n",
    );
    write_file(
        &world.project.join(".yarnrc"),
        &format!("registry \"{}\"\n", server.url),
    );
    (world, server, probe_port, seen)
}

/// A bare yarn 1 (`--ignore-scripts`) with the cache the sandboxed runs have
/// (`~/.cache/yarn/v6` of the world's home, also when the tests run as root, where yarn 1's
/// default is elsewhere): the lockfile written and the cache warm, no package code run; the
/// tree is removed so the next install links and builds again.
fn yarn1_warm(world: &World) {
    yarn1_warm_tree(world);
    fs::remove_dir_all(world.project.join("node_modules")).expect("remove node_modules");
}

/// [`yarn1_warm`], the tree kept: linked, no script run.
fn yarn1_warm_tree(world: &World) {
    let warm = run(
        world
            .setup_command(toolchain_bin("yarn1").join("yarn"))
            .env("PATH", path_with("yarn1"))
            .env("YARN_CACHE_FOLDER", world.home.join(".cache/yarn"))
            .args([
                "install",
                "--ignore-scripts",
                "--non-interactive",
                "--no-progress",
            ]),
        RUN_TIMEOUT,
    );
    assert!(warm.status.success(), "{}", warm.describe());
}

fn yarn1_install(world: &World, log: &Path) -> Output {
    run(
        world
            .safe_install()
            .env("PATH", path_with("yarn1"))
            .arg("--log")
            .arg(log)
            .args([
                "--",
                "yarn",
                "install",
                "--non-interactive",
                "--no-progress",
            ]),
        RUN_TIMEOUT,
    )
}

/// yarn 1 runs every lifecycle script with `/bin/sh -c`; inside, that shell is safe-install
/// standing in for it: the probe's postinstall runs at level 2. Each attempt (network,
/// `.env`, the project root, files that run later, another package, `.bin`, yarn 1's cache)
/// fails and is logged as `si-yarn-probe@1.0.0` `postinstall`; the install succeeds and
/// si-benign's own postinstall builds in its folder; yarn 1's cache is byte-identical after.
#[test]
fn yarn1_postinstall_runs_at_level_2_and_is_attributed() {
    let (world, server, probe_port, seen) = yarn1_world("yarn1-level2");
    yarn1_warm(&world);
    let cache = world.home.join(".cache/yarn/v6");
    let cache_before = snapshot_tree(&cache, world.root(), &|_: &Path| false);
    assert!(
        cache_before
            .keys()
            .any(|k| k.to_string_lossy().contains("npm-si-benign-")),
        "the warm install left no si-benign in {}",
        cache.display()
    );
    let log = world.log_path("yarn1");
    let out = yarn1_install(&world, &log);
    assert!(
        out.status.success(),
        "{}\n--- verdaccio ---\n{}",
        out.describe(),
        server.log()
    );
    assert!(
        !out.stderr.contains("package manager's level"),
        "the run still says scripts run at the package manager's level:\n{}",
        out.describe()
    );
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            world
                .project
                .join("node_modules/si-yarn-probe/probe-report.json"),
        )
        .unwrap_or_else(|e| {
            panic!(
                "no probe report ({e}): the postinstall did not run\n{}",
                out.describe()
            )
        }),
    )
    .expect("probe report");
    for attempt in [
        "env",
        "root",
        "other",
        "bin",
        "net",
        "cache_zip",
        "cache_new",
    ]
    .into_iter()
    .chain(LATER.iter().map(|(a, ..)| *a))
    {
        let got = report[attempt].as_str().unwrap_or_default();
        assert!(
            got != "succeeded" && got != "HTTP 200" && got != "no .bin",
            "the postinstall's {attempt} attempt: {got}: {report}\n{}",
            out.describe()
        );
    }
    // The compile cache exists (made before the run) and only the package manager's level
    // writes it: refused by Landlock, and never named to the script.
    assert_eq!(
        (&report["later_compile_cache"], &report["compile_cache_var"]),
        (&serde_json::json!("EACCES"), &serde_json::json!("unset")),
        "{report}"
    );
    assert!(
        seen.lock().expect("seen").is_empty(),
        "the probe's request reached the host"
    );
    let benign = world.project.join("node_modules/si-benign");
    assert!(!world.project.join("si-yarn-root-write").exists());
    assert!(!benign.join("si-yarn-pwned").exists());
    assert!(!world
        .project
        .join("node_modules/.bin/si-yarn-planted")
        .exists());
    assert!(
        benign.join("build/artefact.txt").is_file(),
        "si-benign's postinstall did not build in its own folder\n{}",
        out.describe()
    );
    assert_cache_unchanged(&world, &cache, &cache_before);
    // The shell the postinstall (and the `node` launcher yarn put on its PATH) ran through is
    // the gate, a few kB, not safe-install's executable: the shells still landed at level 2
    // (the attempts above failed) and the launcher kept its script's level.
    assert!(
        report["sh_size"].as_u64().is_some_and(|n| n < 16 * 1024),
        "/bin/sh inside is not the system-shell gate: {report}"
    );
    // yarn 1 compiled itself into Node's compile cache (its own v8-compile-cache, which
    // would write to the throwaway temp, turned off), for the next run to load.
    let compiled = walk_files(&world.home.join(".cache/safe-install/node-compile-cache"));
    // Its 5 MB bundle (`lib/cli.js`) compiles to about 2 MB; the small files around it to
    // a few kB.
    assert!(
        compiled
            .iter()
            .any(|f| fs::metadata(f).is_ok_and(|m| m.len() > 1 << 20)),
        "yarn 1's bundle is not in its compile cache: {compiled:?}"
    );
    let cache_entry = report["cache_zip_file"]
        .as_str()
        .filter(|z| z.starts_with(&format!("{}/npm-si-benign-", cache.display())))
        .unwrap_or_else(|| {
            panic!(
                "the probe found no si-benign entry in {}: {report}",
                cache.display()
            )
        })
        .to_string();
    let cache_new = format!("{}/si-planted.zip", cache.display());
    assert_probe_logged(&log, probe_port, &[&cache_entry, &cache_new], true);
}

/// The installed tree inside equals the bare one under yarn 1: level 2 takes nothing away
/// from what yarn installs and the scripts build. The bare run is also the negative control:
/// there the probe's writes to another package and to `.bin` land.
#[test]
fn yarn1_installed_tree_equals_the_bare_one() {
    let (sandboxed, _s1, _, _) = yarn1_world("yarn1-tree");
    let out = yarn1_install(&sandboxed, &sandboxed.log_path("yarn1-tree"));
    assert!(out.status.success(), "{}", out.describe());
    let (bare, _s2, _, seen) = yarn1_world("yarn1-tree-bare");
    let out = run(
        bare.setup_command(toolchain_bin("yarn1").join("yarn"))
            .env("PATH", path_with("yarn1"))
            .env("YARN_CACHE_FOLDER", bare.home.join(".cache/yarn"))
            .args(["install", "--non-interactive", "--no-progress"]),
        RUN_TIMEOUT,
    );
    assert!(out.status.success(), "{}", out.describe());
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(
            bare.project
                .join("node_modules/si-yarn-probe/probe-report.json"),
        )
        .expect("bare probe report"),
    )
    .expect("probe report");
    for attempt in ["env", "root", "other", "bin"] {
        assert_eq!(report[attempt], "succeeded", "bare: {report}");
    }
    assert!(
        !seen.lock().expect("seen").is_empty(),
        "the probe's request did not reach the host bare"
    );
    assert_same_built_tree(&bare, &sandboxed);
}

/// Issue 14's wiper through yarn 1 (no approval list: every script runs), on a tree linked
/// bare without scripts: `yarn install --force` runs every postinstall again, the wiper's at
/// level 2 through the shell safe-install stands in for. It deletes and truncates everything
/// it reaches in the project and the home (where yarn 1's cache `~/.cache/yarn` is): nothing
/// outside `node_modules/si-wiper` changes, the cache included, and the refused deletions
/// are logged as `si-wiper@1.0.0` `postinstall`. npm's bare control (`package_writes`)
/// proves the fixture wipes.
#[test]
fn yarn1_a_wiper_loses_nothing_outside_its_own_folder() {
    use crate::common::wiper::*;
    let world = World::new("yarn1-wiper");
    plant_project_files(&world);
    let server = start_verdaccio(&world.root().join("verdaccio"));
    let token = verdaccio_add_user(&server, "si-tester", "si-tester-password");
    let victim = pack_plain(&world, "trust/npm-victim", "si-victim");
    let wiper = pack_wiper(&world);
    for tarball in [&victim, &wiper] {
        publish_npm(&world, tarball, &server, &token);
    }
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true,\n  \"dependencies\": { \"si-victim\": \"1.0.0\", \"si-wiper\": \"1.0.0\" } }\n",
    );
    write_file(
        &world.project.join(".yarnrc"),
        &format!("registry \"{}\"\n", server.url),
    );
    yarn1_warm_tree(&world);
    let skip = Skip {
        project: &[
            "node_modules/si-wiper",
            // yarn 1's state (level 1): its flags (`ignoreScripts` of the warm install) and
            // the build artefacts it recorded.
            "node_modules/.yarn-integrity",
        ],
        home: &[],
    };
    let before = ProjectAndHome::read_with_store(&world, &skip, ".cache/yarn/v6", "npm-si-victim-");
    assert!(
        before
            .project
            .contains_key(Path::new("node_modules/si-victim/index.js")),
        "the warm install linked no si-victim"
    );
    let r = logged_yarn(
        &world,
        "yarn1",
        "wiper",
        &[
            "yarn",
            "install",
            "--force",
            "--non-interactive",
            "--no-progress",
        ],
    );
    let mut p = check_wiper(
        &world,
        &r,
        skip.project[0],
        &skip,
        &before,
        &[
            "/package.json",
            "/node_modules/si-victim/",
            "/.cache/yarn/v6/",
        ],
    );
    p.check(r.out.status.success(), || {
        "the sandboxed install failed".into()
    });
    p.finish(&format!(
        "{}\n--- verdaccio ---\n{}",
        r.context(),
        server.log()
    ));
}

/// `yarn run` is the one place yarn 1 reads `script-shell`: a project's `.yarnrc` and
/// `.npmrc` naming `/bin/bash` would run the project's script with a shell safe-install does
/// not stand in for. Pinned to `/bin/sh`, the root project's script runs at level 2: its
/// write to the project root is refused and logged as the project's, its write to the
/// install tree (the root project's own, as under npm) lands.
#[test]
fn yarn1_run_with_a_project_script_shell_still_runs_at_level_2() {
    let world = World::new("yarn1-run");
    write_file(
        &world.project.join("package.json"),
        "{ \"name\": \"si-yarn\", \"version\": \"1.0.0\", \"private\": true,\n  \"scripts\": { \"probe\": \"touch node_modules/si-run-tree; touch si-run-root\" } }\n",
    );
    // An installed project: the install tree exists (a Landlock rule needs it).
    fs::create_dir_all(world.project.join("node_modules")).expect("mkdir");
    write_file(
        &world.project.join(".yarnrc"),
        "script-shell \"/bin/bash\"\n",
    );
    write_file(&world.project.join(".npmrc"), "script-shell=/bin/bash\n");
    let log = world.log_path("yarn1-run");
    let out = run(
        world
            .safe_install()
            .env("PATH", path_with("yarn1"))
            .arg("--log")
            .arg(&log)
            .args(["--", "yarn", "run", "probe"]),
        RUN_TIMEOUT,
    );
    assert!(
        world.project.join("node_modules/si-run-tree").is_file(),
        "the script did not run:\n{}",
        out.describe()
    );
    assert!(
        !world.project.join("si-run-root").exists(),
        "the project's script wrote the project root: it ran at the package manager's level\n{}",
        out.describe()
    );
    let events = read_log(&log);
    assert!(
        events.iter().any(|e| e["action"] == "write"
            && e["verdict"] == "blocked"
            && e["package"] == "si-yarn@1.0.0"
            && e["script"] == "probe"
            && e["target"]
                .as_str()
                .is_some_and(|t| t.ends_with("/si-run-root"))),
        "no blocked write of si-run-root attributed to si-yarn@1.0.0 probe:\n{}",
        events
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The regular files beneath `dir` (none when it is missing).
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

//! pnpm (10, a Node.js program, and 12, a native binary) and its runners `pnpx`/`pnx`:
//! recognition, the registries in its `.npmrc` chain (read as npm's, [`crate::pm::npm::config`]),
//! grants bound to `pnpm-lock.yaml` and its virtual store ([`lock`]), its global store on the
//! project's mount ([`store`]), and lifecycle scripts at trust level 2 through its script shell.
//!
//! The script shell, for both versions, is pinned on the command line: pnpm 10 lets a
//! project's `pnpm-workspace.yaml` `scriptShell` beat `npm_config_script_shell`, and pnpm 12
//! reads neither `npm_config_script_shell` nor `.npmrc`'s `script-shell` (it reads
//! `pnpm_config_script_shell`, which a project file cannot beat). `--config.script-shell=`
//! is the one form both honour above every file and variable (measured with 10.34 and
//! 12.26: a project's `scriptShell`, `.npmrc` `script-shell` and `package.json`
//! `pnpm.scriptShell` all lose to it), so the project's own setting, which is not ours to
//! trust, never chooses the program scripts start in. The variables are set as well, for
//! the nested npm and pnpm processes scripts may start (which inherit the stricter domain
//! anyway). A command line that names a script shell itself is refused: ours would not be
//! the last word.

pub mod approvals;
pub mod lock;
pub mod store;

use super::npm::{self, config, Pin, PinError};
use super::{
    BinEntries, Bound, CaTrust, ConfigError, Context, Family, Level1Observes, Level2, LinkedStore,
    PackageManager, ProjectFiles, Registries, ScriptShellError, ScriptShellPins,
};
use crate::policy::ScriptsPolicy;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The built-in policy layer (on base.toml).
pub const POLICY: (&str, &str) = (
    "policies/pnpm.toml",
    include_str!("../../../policies/pnpm.toml"),
);

/// Program names of pnpm: `pnpx` and `pnx` are `pnpm dlx`.
pub fn recognise(program: &str) -> bool {
    matches!(program, "pnpm" | "pnpx" | "pnx")
}

/// The project files that may name a script shell, and the setting's spellings in each.
const SHELL_SETTINGS: &[(&str, &[&str])] = &[
    ("pnpm-workspace.yaml", &["scriptShell:"]),
    (".npmrc", &["script-shell", "script_shell", "scriptShell"]),
    ("package.json", &["\"scriptShell\""]),
];

/// Arguments of the caller's that name a script shell.
const SHELL_FLAGS: &[&str] = &[
    "--script-shell",
    "--config.script-shell",
    "--config.scriptShell",
    "--config.script_shell",
];

#[derive(Debug)]
pub struct Pnpm;

pub static PNPM: Pnpm = Pnpm;

/// pnpm's commands that run a package's program themselves (`dlx`, `exec`, `create`, and
/// the runners `pnpx`/`pnx`): how the command line says it.
fn runs_a_program(argv: &[OsString]) -> Option<String> {
    let program = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())?;
    if matches!(program, "pnpx" | "pnx") {
        return Some(program.to_string());
    }
    // The first argument that is no option is the command.
    let command = argv
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'))?;
    matches!(command, "dlx" | "exec" | "create").then(|| format!("pnpm {command}"))
}

/// The user's own command line names a script shell: the flag as given.
fn shell_flag(argv: &[OsString]) -> Option<String> {
    argv.iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .find(|a| {
            SHELL_FLAGS
                .iter()
                .any(|f| a == f || a.strip_prefix(f).is_some_and(|r| r.starts_with('=')))
        })
        .map(str::to_string)
}

/// The project files that set a script shell (overridden, and said so).
fn project_shell_settings(project: &Path) -> Vec<String> {
    SHELL_SETTINGS
        .iter()
        .filter(|(file, keys)| {
            std::fs::read_to_string(project.join(file)).is_ok_and(|text| {
                text.lines().any(|l| {
                    let l = l.trim_start();
                    !l.starts_with('#')
                        && !l.starts_with(';')
                        && keys.iter().any(|k| l.starts_with(k))
                })
            })
        })
        .map(|(file, _)| file.to_string())
        .collect()
}

impl PackageManager for Pnpm {
    fn family(&self) -> Family {
        // Node.js packages with lifecycle scripts: observed as npm's are.
        Family::Npm
    }

    fn builtin_policy(&self) -> (&'static str, &'static str) {
        POLICY
    }

    fn manifests(&self) -> &'static [&'static str] {
        npm::MANIFESTS
    }

    /// pnpm runs as if started in that directory, and reads its `.npmrc`.
    fn directory_options(&self) -> &'static [&'static str] {
        &["--dir", "-C"]
    }

    /// A global command (`-g`, `--global`): pnpm's global packages live in its home
    /// (`PNPM_HOME`), with their own layout per pnpm release; not kept yet.
    fn unkept_install(&self, ctx: &Context) -> Option<&'static str> {
        super::command_words(&ctx.argv)
            .iter()
            .any(|a| a == "-g" || a == "--global")
            .then_some("global packages (-g) into pnpm's home")
    }

    /// pnpm's workspace is the directory `NPM_CONFIG_WORKSPACE_DIR` names, else the nearest
    /// one holding `pnpm-workspace.yaml` from where it starts (`@pnpm/find-workspace-dir`);
    /// `--ignore-workspace` keeps it in the nearest package.
    fn workspace_root(&self, ctx: &Context) -> Option<PathBuf> {
        if super::command_words(&ctx.argv)
            .iter()
            .any(|a| a == "--ignore-workspace")
        {
            return None;
        }
        if let Some(dir) = ctx
            .var("NPM_CONFIG_WORKSPACE_DIR")
            .or_else(|| ctx.var("npm_config_workspace_dir"))
            .filter(|d| !d.is_empty())
        {
            return Some(ctx.cwd.join(dir));
        }
        ctx.cwd
            .ancestors()
            .find(|d| d.join("pnpm-workspace.yaml").is_file())
            .map(Path::to_path_buf)
    }

    /// pnpm reads registries, scoped registries and their credentials from the same `.npmrc`
    /// chain as npm (pnpm 12 only those keys). The default registry is npm's, read from the
    /// npm found on the trusted `PATH`, else from pnpm 10's own bundle.
    fn registries(&self, ctx: &Context) -> Result<Registries, ConfigError> {
        let src = npm::sources(ctx);
        let configured = config::discover(&src)?;
        let (registries, _auth) = configured.finish(|| {
            config::npm_default_from_source(src.npm_package_dir.as_deref())
                .or_else(|e| default_from_pnpm(ctx).ok_or(e))
        })?;
        let rules = registries.rules().map_err(|source| ConfigError::Rule {
            rule: registries.default.url.to_string(),
            source_name: "pnpm's .npmrc configuration".into(),
            source,
        })?;
        Ok(Registries {
            rules,
            local_paths: Vec::new(),
        })
    }

    /// A grant applies to the virtual-store directories `pnpm-lock.yaml` says are that
    /// package (a registry entry of that name at the configured registry, or a tarball the
    /// project vendors; the pinned integrity), read before anything runs.
    fn binds_grants(&self) -> bool {
        true
    }

    fn bind_grants(
        &self,
        scripts: &mut ScriptsPolicy,
        ctx: &Context,
        from_registry: &dyn Fn(&url::Url) -> bool,
    ) -> Bound {
        let registries = config::discover(&npm::sources(ctx))
            .ok()
            .and_then(|c| {
                c.finish(|| Err(config::NpmrcError::DefaultUnknown(String::new())))
                    .ok()
            })
            .map(|(r, _)| r);
        let tarball = |name: &str, version: &str| {
            let r = registries.as_ref()?;
            let scope = name.strip_prefix('@').and_then(|n| n.split('/').next());
            let reg = scope
                .and_then(|s| r.scoped.get(&format!("@{s}")))
                .unwrap_or(&r.default);
            let base = name.rsplit('/').next().unwrap_or(name);
            reg.url
                .join(&format!("{name}/-/{base}-{version}.tgz"))
                .ok()
                .map(String::from)
        };
        let entries = lock::lock_entries(&ctx.project, &tarball);
        let notes = npm::lock::bind(scripts, &ctx.project, &entries, from_registry);
        let lockfile = entries
            .iter()
            .filter(|e| !e.link)
            .filter_map(|e| Some((ctx.project.join(&e.path), e.identity()?)))
            .collect();
        Bound { lockfile, notes }
    }

    fn level2(&self, _ctx: &Context) -> Level2 {
        Level2::ScriptShell
    }

    fn script_shell(
        &self,
        ctx: &Context,
        shim: &Path,
    ) -> Result<ScriptShellPins, ScriptShellError> {
        if let Some(flag) = shell_flag(&ctx.argv) {
            return Err(ScriptShellError::NamedOnCommandLine {
                flag,
                fix: "leave the script shell to safe-install (drop the flag)".into(),
            });
        }
        let mut arg = OsString::from("--config.script-shell=");
        arg.push(shim);
        let notes = project_shell_settings(&ctx.project)
            .into_iter()
            .map(|file| {
                format!(
                    "the project's {file} sets a script shell for pnpm: overridden by --config.script-shell (pnpm's highest precedence), so scripts start in safe-install's shell"
                )
            })
            .collect();
        Ok(ScriptShellPins {
            // pnpm 10 (and npm, nested); pnpm 12.
            env: vec!["npm_config_script_shell", "pnpm_config_script_shell"],
            args: vec![arg],
            notes,
            outside: runs_a_program(&ctx.argv).map(|how| {
                format!(
                    "{how} runs a package's program directly, not through pnpm's script shell (measured with pnpm 10 and 12): that program runs at the package manager's level (trust level 1: its network, registry credentials and file access); lifecycle scripts of what it installs stay at level 2"
                )
            }),
        })
    }

    /// pnpm reads npm's program settings (`node-gyp`, `git`) as npm does; pinned the same,
    /// but node-gyp to the one pnpm ships (its `node-gyp-bin` shim runs
    /// `$npm_config_node_gyp` when set, else its own), then npm's.
    fn program_pins(&self, ctx: &Context) -> Result<Vec<Pin>, PinError> {
        let src = npm::sources(ctx);
        let own = ctx
            .resolved
            .program
            .as_deref()
            .and_then(|p| crate::pm::approvals::tool_package(p, &["pnpm", "@pnpm/exe"]))
            .and_then(|(dir, _)| npm::pins::bundled_node_gyp(&dir))
            .map(|p| (p, "the one pnpm ships"));
        let node_gyp = own.into_iter().chain(npm::npm_node_gyp(&src)).collect();
        npm::program_pins(&src, &npm::pin_context(ctx, node_gyp))
    }

    fn approvals(&self, ctx: &Context) -> crate::pm::approvals::Approvals {
        approvals::approvals(ctx)
    }

    fn scripted(&self, project: &Path) -> crate::pm::approvals::Scripted {
        approvals::scripted(project)
    }

    fn bin_entries(&self) -> BinEntries {
        BinEntries::ShellShims
    }

    fn linked_store(&self, ctx: &Context) -> Option<LinkedStore> {
        let dir = store::store_dir(ctx);
        let args = store::pin_args(&ctx.argv, &dir);
        let mut notes = Vec::new();
        if let Some(set) = ["pnpm-workspace.yaml", ".npmrc"].iter().find(|f| {
            std::fs::read_to_string(ctx.project.join(f)).is_ok_and(|t| {
                t.lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("storeDir:") || l.starts_with("store-dir")
                })
            })
        }) {
            notes.push(format!(
                "the project's {set} names a pnpm store: overridden by --config.store-dir={} (a project file does not choose a read-write place)",
                dir.display()
            ));
        }
        Some(LinkedStore {
            what: "pnpm's store",
            dir,
            into: vec![ctx.project.clone()],
            args,
            why:
                "pnpm's content-addressable store, on the project's mount: pnpm hard-links from it"
                    .into(),
            notes,
        })
    }

    fn project_files(&self, project: &Path, _cwd: &Path, _argv: &[OsString]) -> ProjectFiles {
        let first = |names: &[&str]| names.iter().map(|n| project.join(n)).find(|p| p.is_file());
        ProjectFiles {
            lock: first(&["pnpm-lock.yaml"]),
            manifest: first(npm::MANIFESTS),
        }
    }

    fn ca_trust(&self) -> CaTrust {
        CaTrust::Node
    }

    fn level1_observes(&self) -> Level1Observes {
        Level1Observes::Network
    }
}

/// pnpm 10's default registry, from its bundle beside the program (`dist/pnpm.cjs`:
/// `registry: "<url>"` in its configuration defaults). pnpm 12 is a native binary with no
/// such file; then npm's default (above) is the one.
fn default_from_pnpm(ctx: &Context) -> Option<url::Url> {
    let program = ctx.resolved.program.as_deref()?;
    let real = std::fs::canonicalize(program).ok()?;
    let candidates = real
        .ancestors()
        .take(4)
        .map(|d| d.join("dist/pnpm.cjs"))
        .collect::<Vec<_>>();
    let text = candidates
        .iter()
        .find_map(|f| std::fs::read_to_string(f).ok())?;
    let at = text.find("registry: \"https://")?;
    let rest = &text[at + "registry: \"".len()..];
    let end = rest.find('"')?;
    url::Url::parse(&rest[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    /// `pnpm install` in the plan fixtures' project (under the home, or beside it), with
    /// the base and pnpm policies.
    fn pnpm_plan(
        where_: crate::plan::test_fixtures::Project,
        args: &[&str],
    ) -> (
        tempfile::TempDir,
        Context,
        Result<crate::plan::Plan, crate::plan::PlanError>,
    ) {
        let (dir, mut ctx) = crate::plan::test_fixtures::npm_ci(where_);
        ctx.argv = argv(args);
        ctx.detected = crate::pm::detect(&ctx.argv);
        let mut policy = crate::policy::Policy::default();
        policy
            .add_layer("base", crate::policy::builtin::BASE.1)
            .expect("base");
        policy.add_layer(POLICY.0, POLICY.1).expect("pnpm policy");
        let plan = crate::plan::build(&policy, &ctx, &crate::plan::Mode::Full);
        (dir, ctx, plan)
    }

    #[test]
    fn the_store_and_the_project_share_one_mount_and_nothing_else_shows() {
        use crate::plan::MountKind;
        for where_ in [
            crate::plan::test_fixtures::Project::InHome,
            crate::plan::test_fixtures::Project::BesideHome,
        ] {
            let (_dir, ctx, plan) = pnpm_plan(where_, &["pnpm", "install"]);
            let plan = plan.expect("plan");
            let store = ctx.home.join(".local/share/pnpm/store");
            let carrier = store
                .ancestors()
                .find(|a| ctx.project.starts_with(a))
                .expect("common ancestor");
            let find = |p: &Path| plan.mounts.iter().find(|m| m.target == p).map(|m| &m.kind);
            assert_eq!(
                find(carrier),
                Some(&MountKind::BindRw(carrier.to_path_buf()))
            );
            // Nothing between the carrier and either place is a mount of its own.
            for m in &plan.mounts {
                let splits = m.target.starts_with(carrier)
                    && m.target != carrier
                    && (store.starts_with(&m.target) || ctx.project.starts_with(&m.target));
                assert!(!splits, "{} splits the shared mount", m.target.display());
            }
            // What else the home holds is covered.
            assert_eq!(find(&ctx.home.join(".ssh")), Some(&MountKind::Tmpfs));
            assert_eq!(find(&ctx.project.join(".env")), Some(&MountKind::HideFile));
            // Landlock: both places read-write for pnpm (REFER between them), the carrier
            // itself nothing; scripts read the store and write neither.
            assert!(plan.landlock.write.contains(&store));
            assert!(plan.landlock.write.contains(&ctx.project));
            assert!(!plan.landlock.write.contains(&carrier.to_path_buf()));
            assert!(!plan.landlock.read.contains(&carrier.to_path_buf()));
            let script = plan.script.as_ref().expect("level 2");
            assert!(script.read.contains(&store));
            assert!(!script.write.iter().any(|w| store.starts_with(w)));
            assert!(!script.write.iter().any(|w| ctx.project.starts_with(w)));
            // The store did not exist: created before the run, not while planning.
            assert!(!store.exists());
            assert!(plan.before_run.iter().any(
                |a| matches!(a, crate::plan::HostAction::CreateDir { path, .. } if path == &store)
            ));
        }
    }

    #[test]
    fn pnpm_is_pinned_to_the_shim_and_the_store_on_its_command_line() {
        let (_dir, ctx, plan) = pnpm_plan(
            crate::plan::test_fixtures::Project::InHome,
            &["pnpm", "install", "--frozen-lockfile"],
        );
        let plan = plan.expect("plan");
        let store = ctx.home.join(".local/share/pnpm/store");
        assert_eq!(
            plan.argv,
            vec![
                OsString::from("pnpm"),
                OsString::from(format!("--config.store-dir={}", store.display())),
                OsString::from("--config.script-shell=/.safe-install/script-shell"),
                OsString::from("install"),
                OsString::from("--frozen-lockfile"),
            ]
        );
        for name in ["npm_config_script_shell", "pnpm_config_script_shell"] {
            let value = plan
                .env
                .pass
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone());
            assert_eq!(
                value,
                Some(OsString::from(crate::plan::trust::SHIM)),
                "{name}"
            );
        }
    }

    #[test]
    fn a_store_far_from_the_project_gets_a_mount_of_its_own_and_a_note() {
        let (dir, mut ctx) =
            crate::plan::test_fixtures::npm_ci(crate::plan::test_fixtures::Project::InHome);
        ctx.argv = argv(&["pnpm", "install"]);
        ctx.detected = crate::pm::detect(&ctx.argv);
        // Nearest common directory: `/` (or another filesystem): not one mount.
        let store = std::path::PathBuf::from("/var/tmp").join(format!(
            "si-unit-store-{}",
            dir.path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
        ));
        ctx.env.push((
            "pnpm_config_store_dir".into(),
            store.clone().into_os_string(),
        ));
        let mut policy = crate::policy::Policy::default();
        policy
            .add_layer("base", crate::policy::builtin::BASE.1)
            .expect("base");
        policy.add_layer(POLICY.0, POLICY.1).expect("pnpm policy");
        let plan = crate::plan::build(&policy, &ctx, &crate::plan::Mode::Full).expect("plan");
        let shown = plan.store.as_ref().expect("store");
        assert_eq!(shown.dir, store);
        assert_eq!(shown.carrier, None);
        assert!(plan
            .mounts
            .iter()
            .any(|m| m.target == store && m.kind == crate::plan::MountKind::BindRw(store.clone())));
        assert!(plan.notes.iter().any(|n| n.contains("copies from it")));
        // The private home stays.
        assert!(plan
            .mounts
            .iter()
            .any(|m| m.target == ctx.home && m.kind == crate::plan::MountKind::Tmpfs));
        assert!(!store.exists(), "planning creates nothing");
    }

    #[test]
    fn a_mode_without_the_shim_can_take_its_argument_out() {
        let (_dir, _ctx, plan) = pnpm_plan(
            crate::plan::test_fixtures::Project::InHome,
            &["pnpm", "install"],
        );
        let mut plan = plan.expect("plan");
        plan.drop_script_shell_args();
        assert_eq!(plan.argv.len(), 3, "{:?}", plan.argv);
        assert!(plan.argv[1]
            .to_string_lossy()
            .starts_with("--config.store-dir="));
        assert_eq!(plan.argv[2], "install");
        assert!(plan
            .hook
            .iter()
            .all(|h| !h.starts_with("--config.script-shell")));
    }

    #[test]
    fn a_script_shell_named_on_the_command_line_is_refused() {
        let (_dir, _ctx, plan) = pnpm_plan(
            crate::plan::test_fixtures::Project::InHome,
            &["pnpm", "install", "--config.script-shell=/bin/bash"],
        );
        let err = plan.expect_err("refused");
        assert!(
            matches!(err, crate::plan::PlanError::ScriptShell(_)),
            "{err}"
        );
        assert!(err.to_string().contains("--config.script-shell=/bin/bash"));
    }

    #[test]
    fn runners_are_said_to_run_their_program_at_level_1() {
        assert_eq!(
            runs_a_program(&argv(&["/x/pnx", "cowsay"])).as_deref(),
            Some("pnx")
        );
        assert_eq!(
            runs_a_program(&argv(&["pnpm", "--silent", "dlx", "cowsay"])).as_deref(),
            Some("pnpm dlx")
        );
        assert_eq!(runs_a_program(&argv(&["pnpm", "install"])), None);
        assert_eq!(runs_a_program(&argv(&["pnpm", "run", "exec"])), None);
    }

    #[test]
    fn a_script_shell_on_the_command_line_is_found() {
        assert_eq!(
            shell_flag(&argv(&["pnpm", "i", "--config.script-shell=/bin/bash"])).as_deref(),
            Some("--config.script-shell=/bin/bash")
        );
        assert_eq!(
            shell_flag(&argv(&["pnpm", "--script-shell", "/bin/bash", "i"])).as_deref(),
            Some("--script-shell")
        );
        assert_eq!(shell_flag(&argv(&["pnpm", "install"])), None);
        assert_eq!(
            shell_flag(&argv(&["pnpm", "exec", "--", "x", "--script-shell=y"])),
            None
        );
    }

    #[test]
    fn project_files_that_set_a_script_shell_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        assert!(project_shell_settings(p).is_empty());
        std::fs::write(
            p.join("pnpm-workspace.yaml"),
            "allowBuilds: {}\nscriptShell: /bin/bash\n",
        )
        .expect("write");
        std::fs::write(p.join(".npmrc"), "registry=http://127.0.0.1:1/\n").expect("write");
        std::fs::write(
            p.join("package.json"),
            "{\"pnpm\": {\n  \"scriptShell\": \"/bin/bash\"}}",
        )
        .expect("write");
        assert_eq!(
            project_shell_settings(p),
            ["pnpm-workspace.yaml", "package.json"]
        );
    }
}

//! The end-to-end suite: the real `safe-install` binary against real npm, pip and local
//! registries (tests/README.md lists what each module proves). One test binary with one
//! module per boundary, so that a change links one executable instead of one per file;
//! the module names are the former file names, so a test is still `npm_attacks::…`.
//!
//! All modules run in one process, in parallel. What that shares:
//! - `common::guard`: the leak checks of `lifecycle` run alone; every test world holds the
//!   shared side of that lock for as long as it lives;
//! - `common::netns`: test-host subnets are numbered per process, so concurrent test hosts
//!   never collide;
//! - `common::attacks`: each `attack_tests!` invocation has its own `static` run.
//!
//! Nothing here changes the process's environment, working directory or umask: every
//! command gets its environment and directory explicitly (`World::command`).

mod common;

mod attempts_logged;
mod benign_installs;
mod cli_errors;
mod cli_subcommands;
mod credentials_pm;
mod degraded;
mod egress;
mod everyday_loop;
mod fixtures_are_real;
mod git_credentials;
mod home_installs;
mod host_escape;
mod learn;
mod lifecycle;
mod npm_attacks;
mod npm_git_dependency;
mod package_writes;
mod packaging;
mod pip_attacks;
mod pm_npm12;
mod pm_pnpm;
mod pm_uv;
mod pm_yarn;
mod registries;
mod reports;
mod root_project_git;
mod sandbox_view;
mod shell_init;
mod trust_levels;
mod trust_levels_pip;
mod trust_writes_reads;
mod workspaces;

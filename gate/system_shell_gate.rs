//! The system-shell gate: a program of about 2 KB that safe-install mounts over the file
//! `/bin/sh` resolves to inside the sandbox when it stands in for the system shell (yarn 1
//! runs every script with `/bin/sh -c`). It decides, from what the kernel gives every new
//! program (its arguments, environment and parent), which program runs next, and execs it
//! with the same arguments and environment:
//!
//! - the real shell (`/.safe-install/sh-real`) for a shell already inside a level-2 domain
//!   (its environment holds `SAFE_INSTALL_TRUST_LEVEL=2`) and for the command itself (its
//!   parent is the sandbox's init, pid 1): the same decisions as `shim::system_shell::level`,
//!   which grant nothing (the process stays in the domain it is in);
//! - safe-install as the system shell (`/.safe-install/system-shell`) for every other shell,
//!   which puts it at level 2 (`shim::system_shell`).
//!
//! Without it, every shell in the sandbox started safe-install's own 11 MB executable first
//! (its dynamic loading, glibc's start-up and, at level 2, a notified open per library), then
//! the shell: about 2 ms per shell, where yarn 1 starts one per script and one per `node`
//! its scripts run. This program has no libc and no loader: a few system calls.
//!
//! It is built by `build.rs` as its own program (`no_std`, static, no start files), so its
//! system calls are written here rather than in the crate's `sys` layer. x86_64 only (the
//! architecture it is tested on); elsewhere `build.rs` leaves it out. A test in the crate
//! (`plan::trust`) checks that the paths and the mark below are the crate's own.

#![no_std]
#![no_main]

use core::arch::{asm, global_asm};

/// The variable `shim::start_script` marks a level-2 process's environment with
/// (`LEVEL2_MARKER`), and the mark: the whole entry is `SAFE_INSTALL_TRUST_LEVEL=2`.
const MARK_NAME: &[u8] = b"SAFE_INSTALL_TRUST_LEVEL=";
const MARK: &[u8] = b"SAFE_INSTALL_TRUST_LEVEL=2\0";
/// The real system shell (`SYSTEM_SHELL_REAL`).
const REAL_SHELL: &[u8] = b"/.safe-install/sh-real\0";
/// safe-install standing in for the system shell (`SYSTEM_SHELL_SHIM`).
const SHIM: &[u8] = b"/.safe-install/system-shell\0";
/// What is written when neither can be started (the exit status is 126, as a shell's for a
/// command it cannot run).
const FAILED: &[u8] = b"safe-install (system shell gate): the shell could not be started\n";

mod nr {
    pub const WRITE: usize = 1;
    pub const GETPPID: usize = 110;
    pub const EXECVE: usize = 59;
    pub const EXIT_GROUP: usize = 231;
}

// The entry point: the kernel starts a program with the stack pointer at `argc`, followed by
// the argument pointers, a null, the environment pointers and a null. Hand that address to
// `gate` on an aligned stack.
global_asm!(
    ".globl _start",
    "_start:",
    "mov rdi, rsp",
    "and rsp, -16",
    "call {gate}",
    "ud2",
    gate = sym gate,
);

/// A system call with up to three arguments.
///
/// # Safety
/// The arguments must be what system call `n` expects (valid pointers where it reads).
unsafe fn syscall3(n: usize, a: usize, b: usize, c: usize) -> isize {
    let ret: isize;
    // SAFETY: the caller passes the arguments system call `n` expects; `syscall` clobbers
    // rcx and r11 only, and touches no stack.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b,
             in("rdx") c, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}
/// Whether the NUL-terminated string at `p` starts with `want` (a NUL in `want` can only be
/// its last byte, which makes the comparison an exact one).
///
/// # Safety
/// `p` must point at a NUL-terminated string.
unsafe fn starts_with(p: *const u8, want: &[u8]) -> bool {
    for (i, &b) in want.iter().enumerate() {
        // SAFETY: the string at `p` is NUL-terminated and nothing is read past its NUL: there
        // a byte of `want` other than NUL differs (the loop stops), or `want`'s own last
        // byte, its NUL, matches and the loop ends.
        if unsafe { *p.add(i) } != b {
            return false;
        }
    }
    true
}

/// # Safety
/// `sp` must be the stack pointer the kernel started the program with.
unsafe extern "C" fn gate(sp: *const usize) -> ! {
    // SAFETY: the kernel's initial stack: `argc`, `argc` argument pointers and a null, then
    // environment pointers up to a null, each a NUL-terminated string.
    unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const u8;
        let envp = argv.add(argc + 1);
        // The first entry of the variable decides, as `getenv` (and so the shim) reads it.
        let mut marked = false;
        let mut entry = envp;
        while !(*entry).is_null() {
            if starts_with(*entry, MARK_NAME) {
                marked = starts_with(*entry, MARK);
                break;
            }
            entry = entry.add(1);
        }
        let parent = syscall3(nr::GETPPID, 0, 0, 0);
        let next = if marked || parent == 1 {
            REAL_SHELL
        } else {
            SHIM
        };
        syscall3(nr::EXECVE, next.as_ptr() as usize, argv as usize, envp as usize);
        syscall3(nr::WRITE, 2, FAILED.as_ptr() as usize, FAILED.len());
        syscall3(nr::EXIT_GROUP, 126, 0, 0);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing here can panic (no indexing, no arithmetic that overflows); were it to, stop.
    // SAFETY: exit_group takes a status and does not return.
    unsafe {
        syscall3(nr::EXIT_GROUP, 126, 0, 0);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}

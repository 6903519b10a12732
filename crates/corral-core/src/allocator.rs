//! The binaries' memory allocator: mimalloc, tuned to return memory promptly.
//!
//! glibc malloc was about an eighth of the worker's CPU under load
//! (docs/PERFORMANCE.md); mimalloc parses and groups an event about 11%
//! faster (`digest_cpu`). Its defaults hold freed memory back, though: it
//! commits whole arenas up front and purges freed pages only after a delay,
//! which took an idle `corral serve` from 23 MiB to 49 MiB resident. The two
//! options below are set before anything is allocated, by a constructor that
//! [`use_allocator!`](crate::use_allocator) places in the binary.

/// mimalloc's `mi_option_arena_eager_commit` (v3 numbering).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// mimalloc's `mi_option_purge_delay`, in milliseconds (v3 numbering).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

pub use mimalloc::MiMalloc;

/// Sets mimalloc's options; called once, before `main`. An option set here
/// overrides its `MIMALLOC_*` environment variable.
#[allow(unsafe_code)]
pub extern "C" fn configure() {
    // SAFETY: mi_option_set writes one entry of mimalloc's option table; it
    // runs before main, while the process has a single thread.
    unsafe {
        // commit arena memory as it is used, not a whole arena at once
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        // give freed pages back to the OS at once
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
    }
}

/// Makes mimalloc the global allocator of the binary it is used in, with
/// [`configure`] run before `main`. One line at the top of each `main.rs`.
#[macro_export]
macro_rules! use_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::allocator::MiMalloc = $crate::allocator::MiMalloc;

        #[used]
        #[allow(unsafe_code)]
        #[cfg_attr(target_os = "linux", unsafe(link_section = ".init_array"))]
        static CONFIGURE_ALLOCATOR: extern "C" fn() = $crate::allocator::configure;
    };
}

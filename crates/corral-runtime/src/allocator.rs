//! The binaries' memory allocator: mimalloc, tuned to return memory promptly.
//!
//! glibc malloc was about an eighth of the worker's CPU under load
//! (docs/PERFORMANCE.md); mimalloc parses and groups an event about 11%
//! faster (`digest_cpu`). Its defaults hold freed memory back, though: it
//! commits whole arenas up front, which took an idle `corral serve` from
//! 23 MiB to 49 MiB resident. The two options below are set before anything
//! is allocated, by a constructor that
//! [`use_allocator!`](crate::use_allocator) places in the binary.

/// mimalloc's `mi_option_arena_eager_commit` (v3 numbering).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
/// mimalloc's `mi_option_purge_delay`, in milliseconds (v3 numbering).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long freed pages stay with the process before they are purged.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

pub use mimalloc::MiMalloc;

/// Sets mimalloc's options; called once, before `main`. These are defaults:
/// an option's `MIMALLOC_*` environment variable (`MIMALLOC_PURGE_DELAY`,
/// `MIMALLOC_ARENA_EAGER_COMMIT`) still wins.
#[allow(unsafe_code)]
pub extern "C" fn configure() {
    // SAFETY: mi_option_set_default writes one entry of mimalloc's option
    // table unless its environment variable was read; it runs before main,
    // while the process has a single thread.
    unsafe {
        // commit arena memory as it is used, not a whole arena at once
        libmimalloc_sys::mi_option_set_default(ARENA_EAGER_COMMIT, 0);
        // give freed pages back to the OS after 10 ms. At 0 (at once) every
        // request's buffers were fresh pages for the kernel to fault in and
        // clear (a fifth of corral-web's CPU in page faults under the ingest
        // benchmark); 10 ms kept the idle figures and raised ingest alone
        // from 14,106 and 11,563 to 16,003 and 15,754 accepted/s
        libmimalloc_sys::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS);
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

/// Gives the memory this thread freed back to the system now, instead of
/// when the thread next allocates. A thread that decoded a large body and
/// then sits idle in a pool would otherwise keep its pages, and the
/// process's resident memory would exceed the memory budget that bounded
/// the request. Harmless (and cheap) where mimalloc is not the allocator.
#[allow(unsafe_code)]
pub fn give_back_freed_memory() {
    // SAFETY: mi_collect only walks this thread's own heap and frees pages
    // that hold no live block; it takes no pointers. `force` purges at once,
    // not after the purge delay
    unsafe { libmimalloc_sys::mi_collect(true) }
}

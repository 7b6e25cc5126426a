//! Process-wide heap settings for the tensor workload.
//!
//! A training or detection step allocates and frees hundreds of tensors of 0.1–30 MiB. glibc's
//! malloc serves blocks above its mmap threshold with fresh `mmap`s and hands heap tops above
//! its trim threshold back to the kernel, so the same buffers are faulted in and zeroed by the
//! kernel again in every step (page faults were ≈ 4.5 % of a 224 px training step). Keeping
//! freed blocks of up to 32 MiB in the heap and never trimming it cut the page faults of a
//! 5-step 224 px bench run from 198 k to 139 k (BENCHMARKS.md, "Matrix products, allocation
//! and heap"); the price is that the heap stays at its peak size until the process ends,
//! which is what a training loop reaches again every step.

/// The largest `M_MMAP_THRESHOLD` glibc accepts on 64-bit targets (`HEAP_MAX_SIZE / 2`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Keeps freed tensor buffers in the heap for reuse (glibc on Linux; elsewhere the system
/// allocator's defaults stay). Call once at start-up, before other threads exist.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_tensor_memory() {
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only changes malloc's tuning parameters; no pointer is involved.
    let accepted = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX) == 1
    };
    debug_assert!(accepted, "glibc rejected the heap settings");
}

/// Keeps freed tensor buffers in the heap for reuse (glibc on Linux; elsewhere the system
/// allocator's defaults stay). Call once at start-up, before other threads exist.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_tensor_memory() {}

//! Chunk-parallel loops for contiguous element-wise kernels (dtunet patch).
//!
//! Upstream burn-flex 0.22.1 runs unary, binary and scalar element-wise operations on one
//! thread; in a transformer training step on 2 cores those sweeps are most of the time. These
//! helpers split a contiguous sweep into fixed-size chunks on the rayon pool once it reaches
//! [`PARALLEL_THRESHOLD`](super::PARALLEL_THRESHOLD) elements, and run it serially below that,
//! so results are identical either way (every element is computed by the same scalar code).

use alloc::vec::Vec;

/// Elements per rayon task: 64 Ki values keep every task well above dispatch overhead.
#[cfg(feature = "rayon")]
const CHUNK: usize = 64 * 1024;

#[cfg(feature = "rayon")]
fn parallel(len: usize) -> bool {
    len >= super::PARALLEL_THRESHOLD && rayon::current_num_threads() > 1
}

/// `kernel(chunk)` over `data` split in chunks, in parallel for large slices.
pub(crate) fn for_chunks_mut<E, K>(data: &mut [E], kernel: K)
where
    E: Send,
    K: Fn(&mut [E]) + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if parallel(data.len()) {
        use rayon::prelude::*;
        data.par_chunks_mut(CHUNK).for_each(kernel);
        return;
    }
    kernel(data)
}

/// `kernel(dst_chunk, src_chunk)` over equally long `dst` and `src`, in parallel for large
/// slices.
pub(crate) fn for_chunk_pairs_mut<E, S, K>(dst: &mut [E], src: &[S], kernel: K)
where
    E: Send,
    S: Sync,
    K: Fn(&mut [E], &[S]) + Sync + Send,
{
    debug_assert_eq!(dst.len(), src.len());
    #[cfg(feature = "rayon")]
    if parallel(dst.len()) {
        use rayon::prelude::*;
        dst.par_chunks_mut(CHUNK)
            .zip(src.par_chunks(CHUNK))
            .for_each(|(d, s)| kernel(d, s));
        return;
    }
    kernel(dst, src)
}

/// `data[i] = op(data[i])`.
pub(crate) fn map_inplace<E, Op>(data: &mut [E], op: Op)
where
    E: Copy + Send,
    Op: Fn(E) -> E + Sync + Send,
{
    for_chunks_mut(data, |chunk| {
        for x in chunk.iter_mut() {
            *x = op(*x);
        }
    });
}

/// `data[i] = op(data[i], other[i])`.
pub(crate) fn zip_inplace<E, S, Op>(data: &mut [E], other: &[S], op: Op)
where
    E: Copy + Send,
    S: Copy + Sync,
    Op: Fn(E, S) -> E + Sync + Send,
{
    for_chunk_pairs_mut(data, other, |d, s| {
        for (x, &y) in d.iter_mut().zip(s) {
            *x = op(*x, y);
        }
    });
}

/// `[op(src[i])]` as a new vector.
pub(crate) fn map_collect<E, R, Op>(src: &[E], op: Op) -> Vec<R>
where
    E: Copy + Sync,
    R: Copy + Send + bytemuck::Zeroable,
    Op: Fn(E) -> R + Sync + Send,
{
    #[cfg(feature = "rayon")]
    if parallel(src.len()) {
        let mut out = alloc::vec![R::zeroed(); src.len()];
        for_chunk_pairs_mut(&mut out, src, |d, s| {
            for (x, &y) in d.iter_mut().zip(s) {
                *x = op(y);
            }
        });
        return out;
    }
    src.iter().map(|&x| op(x)).collect()
}

/// `[op(lhs[i], rhs[i])]` as a new vector.
pub(crate) fn zip_collect<E, R, Op>(lhs: &[E], rhs: &[E], op: Op) -> Vec<R>
where
    E: Copy + Sync,
    R: Copy + Send + bytemuck::Zeroable,
    Op: Fn(E, E) -> R + Sync + Send,
{
    debug_assert_eq!(lhs.len(), rhs.len());
    #[cfg(feature = "rayon")]
    if parallel(lhs.len()) {
        use rayon::prelude::*;
        let mut out = alloc::vec![R::zeroed(); lhs.len()];
        out.par_chunks_mut(CHUNK)
            .zip(lhs.par_chunks(CHUNK).zip(rhs.par_chunks(CHUNK)))
            .for_each(|(d, (l, r))| {
                for ((x, &a), &b) in d.iter_mut().zip(l).zip(r) {
                    *x = op(a, b);
                }
            });
        return out;
    }
    lhs.iter().zip(rhs).map(|(&a, &b)| op(a, b)).collect()
}

/// `nest` restricted to outer indices `start..start + count` of its first collapsed dim.
#[cfg(feature = "rayon")]
fn restrict_outer(nest: &crate::zip::ZipNest, start: usize, count: usize) -> crate::zip::ZipNest {
    let mut sub = *nest;
    sub.shape[0] = count;
    sub.lhs_offset += start * nest.lhs_strides[0] as usize;
    sub.rhs_offset += start * nest.rhs_strides[0] as usize;
    sub
}

/// Elements per index of the first collapsed dim of a non-empty `nest` of `numel` elements.
#[cfg(feature = "rayon")]
fn outer_row_len(nest: &crate::zip::ZipNest, numel: usize) -> usize {
    numel / nest.shape[0]
}

/// [`zip_apply_inplace`](crate::zip::zip_apply_inplace) split over the first collapsed dim on
/// the rayon pool for large operands. `dst` must be dense from `nest.lhs_offset` (as the serial
/// version requires).
pub(crate) fn zip_apply_inplace<D, S, F>(
    nest: &crate::zip::ZipNest,
    dst: &mut [D],
    src: &[S],
    op: F,
) where
    D: Copy + Send,
    S: Copy + Sync,
    F: Fn(D, S) -> D + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        let numel: usize = nest.shape[..nest.ndim].iter().product();
        if nest.ndim > 0 && numel > 0 && parallel(numel) {
            use rayon::prelude::*;
            let row_len = outer_row_len(nest, numel);
            let rows_per_task = (CHUNK / row_len).max(1);
            let start = nest.lhs_offset;
            dst[start..start + numel]
                .par_chunks_mut(rows_per_task * row_len)
                .enumerate()
                .for_each(|(task, chunk)| {
                    let mut sub = restrict_outer(nest, task * rows_per_task, chunk.len() / row_len);
                    sub.lhs_offset = 0;
                    crate::zip::zip_apply_inplace(&sub, chunk, src, &op);
                });
            return;
        }
    }
    crate::zip::zip_apply_inplace(nest, dst, src, op)
}

/// [`zip_map`](crate::zip::zip_map) with the output written in parallel chunks of the first
/// collapsed dim for large operands.
pub(crate) fn zip_map<L, R, Out, F>(
    lhs: &[L],
    lhs_layout: &crate::layout::Layout,
    rhs: &[R],
    rhs_layout: &crate::layout::Layout,
    op: F,
) -> Option<Vec<Out>>
where
    L: Copy + Sync,
    R: Copy + Sync,
    Out: Copy + Send + bytemuck::Zeroable,
    F: Fn(L, R) -> Out + Sync + Send,
{
    #[cfg(feature = "rayon")]
    {
        let numel = lhs_layout.num_elements();
        if numel > 0 && parallel(numel) {
            use rayon::prelude::*;
            let nest = crate::zip::collapse_for_zip(lhs_layout, rhs_layout)?;
            if nest.ndim > 0 {
                let row_len = outer_row_len(&nest, numel);
                let rows_per_task = (CHUNK / row_len).max(1);
                let mut out = alloc::vec![Out::zeroed(); numel];
                out.par_chunks_mut(rows_per_task * row_len)
                    .enumerate()
                    .for_each(|(task, chunk)| {
                        let sub =
                            restrict_outer(&nest, task * rows_per_task, chunk.len() / row_len);
                        write_runs(&sub, chunk, lhs, rhs, &op);
                    });
                return Some(out);
            }
        }
    }
    crate::zip::zip_map(lhs, lhs_layout, rhs, rhs_layout, op)
}

/// Writes `op(lhs, rhs)` over every run of a non-empty `nest`, in row-major order, into `out`.
#[cfg(feature = "rayon")]
fn write_runs<L, R, Out, F>(nest: &crate::zip::ZipNest, out: &mut [Out], lhs: &[L], rhs: &[R], op: &F)
where
    L: Copy,
    R: Copy,
    F: Fn(L, R) -> Out,
{
    let (len, l_st, r_st) = nest.inner();
    let mut position = 0;
    let mut next_run = || {
        let run = position..position + len;
        position += len;
        run
    };
    match (l_st, r_st) {
        (1, 1) => nest.for_each_run(|lb, rb| {
            let run = &mut out[next_run()];
            for ((o, &a), &b) in run.iter_mut().zip(&lhs[lb..lb + len]).zip(&rhs[rb..rb + len]) {
                *o = op(a, b);
            }
        }),
        (1, 0) => nest.for_each_run(|lb, rb| {
            let b = rhs[rb];
            let run = &mut out[next_run()];
            for (o, &a) in run.iter_mut().zip(&lhs[lb..lb + len]) {
                *o = op(a, b);
            }
        }),
        (0, 1) => nest.for_each_run(|lb, rb| {
            let a = lhs[lb];
            let run = &mut out[next_run()];
            for (o, &b) in run.iter_mut().zip(&rhs[rb..rb + len]) {
                *o = op(a, b);
            }
        }),
        _ => nest.for_each_run(|lb, rb| {
            let run = &mut out[next_run()];
            for (i, o) in run.iter_mut().enumerate() {
                *o = op(lhs[lb + i * l_st as usize], rhs[rb + i * r_st as usize]);
            }
        }),
    }
}

//! Inputs of the next training steps prepared on a host thread while the current step runs on
//! the device, so that drawing noise and copying a batch never stall a step.
//!
//! A step's inputs depend only on `(seed, step)` (see [`super::batches::derive_seed`]), so
//! drawing them ahead changes no value: a prefetched run is bit-identical to one that draws
//! each step's inputs just before it.

use std::ops::Range;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::Scope;
use std::time::{Duration, Instant};

/// How many prepared steps may wait for the consumer: one for the step about to start and one
/// being drawn absorbs the jitter of either side without holding much memory (at the paper's
/// sizes a step's noise is 32 × 224² `f32`, 6.4 MB).
pub const PREFETCH_DEPTH: usize = 2;

/// The items `produce(i)` for `i` in a range, produced in order on a scoped host thread at
/// most `depth` ahead of [`Prefetcher::next`].
///
/// Dropping the prefetcher stops the producer after the item it is drawing, so a consumer that
/// stops early (an error, a NaN loss) leaves the scope without waiting for the rest.
#[derive(Debug)]
pub struct Prefetcher<T> {
    receiver: Receiver<T>,
}

impl<T: Send> Prefetcher<T> {
    /// Starts producing `produce(i)` for every `i` in `indices` on a thread of `scope`.
    /// Work the producer parallelises with rayon runs on the global pool, beside the backend's.
    pub fn spawn<'scope, 'env, F>(
        scope: &'scope Scope<'scope, 'env>,
        indices: Range<usize>,
        depth: usize,
        mut produce: F,
    ) -> Self
    where
        F: FnMut(usize) -> T + Send + 'scope,
        T: 'scope,
    {
        let (sender, receiver) = sync_channel(depth.max(1));
        scope.spawn(move || {
            for index in indices {
                if sender.send(produce(index)).is_err() {
                    break;
                }
            }
        });
        Self { receiver }
    }
}

impl<T> Iterator for Prefetcher<T> {
    /// An item and how long the call waited for it.
    type Item = (T, Duration);

    /// The next item in index order and how long this call waited for it; `None` once the
    /// range is exhausted or the producer stopped (it panicked: the scope re-raises that).
    fn next(&mut self) -> Option<(T, Duration)> {
        let start = Instant::now();
        let item = self.receiver.recv().ok()?;
        Some((item, start.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn yields_every_item_in_order() {
        let items: Vec<usize> = std::thread::scope(|scope| {
            Prefetcher::spawn(scope, 3..9, 2, |i| i * i)
                .map(|(item, _)| item)
                .collect()
        });
        assert_eq!(items, [9, 16, 25, 36, 49, 64]);
    }

    #[test]
    fn runs_at_most_depth_ahead_and_stops_when_dropped() {
        let produced = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let mut prefetcher = Prefetcher::spawn(scope, 0..1_000, 2, |i| {
                produced.fetch_add(1, Ordering::SeqCst);
                i
            });
            assert_eq!(prefetcher.next().map(|(item, _)| item), Some(0));
            std::thread::sleep(Duration::from_millis(50));
            // One taken, two queued, one blocked in `send`.
            assert!(produced.load(Ordering::SeqCst) <= 4);
        });
        assert!(
            produced.load(Ordering::SeqCst) <= 5,
            "stopped after the drop"
        );
    }
}

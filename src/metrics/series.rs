//! The series one probe or target created, so that retiring it removes exactly those.
//!
//! prometheus-client's `Family` has no "remove where probe = x", and rebuilding the label
//! sets from the plan when a probe stops could drift from what was created. So every series
//! of a probe or target is created through its [`Series`], which remembers how to remove it.

use std::hash::Hash;
use std::sync::Mutex;

use prometheus_client::metrics::family::{Family, MetricConstructor};

/// Removes one series from its family.
type Remover = Box<dyn Fn() + Send + Sync>;

/// The series created for one probe or target so far.
#[derive(Default)]
pub(super) struct Series {
    removers: Mutex<Vec<Remover>>,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.removers.lock().map_or(0, |r| r.len());
        f.debug_struct("Series").field("created", &count).finish()
    }
}

impl Series {
    /// The series of `family` with `labels`, created if needed and remembered for
    /// [`Series::retire`]. An existing series (same labels) is reused: its counts continue.
    pub(super) fn get<L, M, C>(&self, family: &Family<L, M, C>, labels: L) -> M
    where
        L: Clone + Hash + Eq + Send + Sync + 'static,
        M: Clone + Send + Sync + 'static,
        C: MetricConstructor<M> + Clone + Send + Sync + 'static,
    {
        let metric = family.get_or_create_owned(&labels);
        self.track(family, labels);
        metric
    }

    /// Remembers the series of `family` with `labels` for [`Series::retire`] without
    /// creating it: for a series that comes and goes (withdrawn while its source fails).
    pub(super) fn track<L, M, C>(&self, family: &Family<L, M, C>, labels: L)
    where
        L: Clone + Hash + Eq + Send + Sync + 'static,
        M: Send + Sync + 'static,
        C: MetricConstructor<M> + Clone + Send + Sync + 'static,
    {
        let family = family.clone();
        self.removers
            .lock()
            .expect("series lock is never poisoned")
            .push(Box::new(move || {
                family.remove(&labels);
            }));
    }

    /// Removes every series created so far.
    pub(super) fn retire(&self) {
        let removers =
            std::mem::take(&mut *self.removers.lock().expect("series lock is never poisoned"));
        for remove in removers {
            remove();
        }
    }
}

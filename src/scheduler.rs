//! One task per probe: turns its schedule into runs and each run's arrival offsets into
//! iterations, enforcing `max_in_flight`; every event goes to the probe's recorder.
//!
//! Arrivals are due at `run start + offset` (see `arrival.rs`); on each wake-up every arrival
//! that is due is dispatched at once, so a late timer never delays later arrivals. An arrival
//! that finds `max_in_flight` iterations running is dropped and counted: never queued, never
//! caught up later. Iterations run on a shared [`TaskTracker`] so shutdown can drain them.
//! The scheduler sleeps on an exact timer (`timer.rs`), and while every slot is taken the
//! end of an iteration wakes it too, so a freed slot goes to the next due arrival at once.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::arrival::Arrivals;
use crate::guard::RateCap;
use crate::metrics::DropReason;
use crate::plan::{Probe, Schedule};
use crate::recorder::{ArrivalTally, Recorder};
use crate::report::{IterationReport, RunReport, WindowSpan};
use crate::runner::Runner;

mod cron;
mod timer;

use timer::Timer;
pub use timer::TimerKind;

/// Starts one iteration at its intended instant and reports what it did.
///
/// The HTTP [`Runner`] is the real implementation; scheduler tests use a stub.
pub trait Iterate: Send + Sync + 'static {
    /// Runs iteration number `iteration` of a run, which was due at `intended_at`.
    fn iterate(
        &self,
        intended_at: Instant,
        iteration: u64,
    ) -> impl Future<Output = IterationReport> + Send;
}

impl Iterate for Runner {
    fn iterate(
        &self,
        intended_at: Instant,
        iteration: u64,
    ) -> impl Future<Output = IterationReport> + Send {
        self.run_iteration(intended_at, iteration)
    }
}

/// An arrival that came due: its intended instant and its number within the run.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: Instant,
    iteration: u64,
}

/// What the engine, `once` and tests hold of a running schedule. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct ScheduleHandle {
    /// Starts a run now when the probe is between runs (`POST /api/v1/probes/{name}/run`).
    pub run_now: Arc<Notify>,
    /// Where iterations run, so shutdown can wait for them.
    pub iterations: TaskTracker,
    /// Stops new arrivals.
    pub shutdown: CancellationToken,
}

/// How a schedule runs, beyond its probe.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    /// How often a continuous probe closes its report window (`global.report_interval`).
    pub report_interval: Duration,
    /// The cap shared by every probe, if `global.max_rate` is set.
    pub rate_cap: Option<Arc<RateCap>>,
    /// What arrivals wake on: [`TimerKind::Exact`] in production, the wheel on a test clock.
    pub timer: TimerKind,
}

/// Everything one probe's schedule needs; cheap handles only.
#[derive(Debug)]
pub struct ProbeSchedule<I> {
    probe: Arc<Probe>,
    /// Runs its iterations.
    iterate: Arc<I>,
    /// Where every event of the probe goes.
    recorder: Arc<Recorder>,
    handle: ScheduleHandle,
    settings: ScheduleSettings,
}

impl<I: Iterate> ProbeSchedule<I> {
    /// The schedule of `probe`, running iterations with `iterate` and recording into
    /// `recorder`; [`ProbeSchedule::handle`] gives what stops it and drains it.
    pub fn new(
        probe: Arc<Probe>,
        iterate: Arc<I>,
        recorder: Arc<Recorder>,
        settings: ScheduleSettings,
    ) -> Self {
        Self {
            probe,
            iterate,
            recorder,
            handle: ScheduleHandle::default(),
            settings,
        }
    }

    /// What stops the schedule, starts a run now and drains its iterations.
    pub fn handle(&self) -> ScheduleHandle {
        self.handle.clone()
    }

    /// Runs the probe's schedule until shutdown.
    pub async fn run(self) {
        let in_flight = Arc::new(Semaphore::new(self.probe.max_in_flight));
        match self.probe.schedule.clone() {
            // Shutdown ends a continuous run; its partial last window gets no verdict.
            Schedule::Continuous => {
                let every = self.settings.report_interval;
                self.run_window(&in_flight, None, Some(every)).await;
            }
            Schedule::Every { every, run_for } => self.run_every(&in_flight, every, run_for).await,
            Schedule::Cron { cron, run_for } => self.run_cron(&in_flight, &cron, run_for).await,
        }
        self.recorder.stopped();
    }

    /// A run at start-up, then one every `every` from then; slots that pass while a run
    /// is still going are skipped and counted.
    async fn run_every(&self, in_flight: &Arc<Semaphore>, every: Duration, run_for: Duration) {
        let origin = Instant::now();
        let mut slot: u32 = 0;
        loop {
            let slot_start = origin + every * slot;
            if !self.wait_for_run(slot_start).await {
                return;
            }
            self.run_bounded(in_flight, run_for).await;
            if self.handle.shutdown.is_cancelled() {
                return;
            }
            let elapsed = Instant::now() - origin;
            let next = (elapsed.as_nanos() / every.as_nanos()) as u32 + 1;
            let skipped = next.saturating_sub(slot + 1);
            if skipped > 0 {
                self.recorder.runs_skipped(u64::from(skipped));
            }
            slot = next;
            let next_run = SystemTime::now()
                + (origin + every * slot).saturating_duration_since(Instant::now());
            self.recorder.waiting(next_run);
        }
    }

    /// A run at each cron occurrence; occurrences missed while a run is going are counted.
    async fn run_cron(
        &self,
        in_flight: &Arc<Semaphore>,
        expression: &croner::Cron,
        run_for: Duration,
    ) {
        loop {
            let now = jiff::Zoned::now();
            let Some(next) = cron::next_after(expression, &now) else {
                tracing::error!(probe = %self.probe.name, "cron expression has no future occurrence; probe stops");
                return;
            };
            let wait = cron::duration_between(&now, &next);
            self.recorder.waiting(SystemTime::now() + wait);
            if !self.wait_for_run(Instant::now() + wait).await {
                return;
            }
            self.run_bounded(in_flight, run_for).await;
            let skipped = cron::occurrences_between(expression, &next, &jiff::Zoned::now());
            if skipped > 0 {
                self.recorder.runs_skipped(skipped);
            }
        }
    }

    /// One run of `run_for` now, returning its report once its iterations are done.
    pub async fn run_once(&self, run_for: Duration) -> RunReport {
        let in_flight = Arc::new(Semaphore::new(self.probe.max_in_flight));
        let report = self.run_bounded(&in_flight, run_for).await;
        self.recorder.stopped();
        // Only shutdown cuts a run short, and `once` never shuts its schedule down.
        report.expect("a run of `once` is never cut short")
    }

    /// Sleeps until `at`; false when shutdown came first.
    async fn wait_until(&self, at: Instant) -> bool {
        tokio::select! {
            biased;
            () = self.handle.shutdown.cancelled() => false,
            () = sleep_until(at) => true,
        }
    }

    /// Sleeps until the next run is due at `at`, or until a run is asked for now; false
    /// when shutdown came first.
    async fn wait_for_run(&self, at: Instant) -> bool {
        tokio::select! {
            biased;
            () = self.handle.shutdown.cancelled() => false,
            () = self.handle.run_now.notified() => {
                tracing::info!(probe = %self.probe.name, "run requested now");
                true
            }
            () = sleep_until(at) => true,
        }
    }

    /// One run of `run_for`, then its verdict once its iterations are done; `None` when
    /// shutdown cut it short.
    async fn run_bounded(
        &self,
        in_flight: &Arc<Semaphore>,
        run_for: Duration,
    ) -> Option<RunReport> {
        let run = self.run_window(in_flight, Some(run_for), None).await;
        if self.handle.shutdown.is_cancelled() {
            // A run cut short gets no verdict; shutdown drains its iterations.
            return None;
        }
        run.close();
        // The verdict waits for the run's last iterations, each bounded by its timeouts.
        let longest = self.probe.target.timeout * self.probe.steps.len() as u32;
        if tokio::time::timeout(longest + Duration::from_secs(1), run.wait())
            .await
            .is_err()
        {
            tracing::warn!(probe = %self.probe.name, "iterations outlived their timeouts");
        }
        Some(self.recorder.window_closed(WindowSpan::Run(run_for)))
    }

    /// Dispatches a run's arrivals until they end or shutdown; returns the run's tracker.
    async fn run_window(
        &self,
        in_flight: &Arc<Semaphore>,
        run_for: Option<Duration>,
        report_every: Option<Duration>,
    ) -> TaskTracker {
        let run = TaskTracker::new();
        let start = Instant::now();
        self.recorder
            .run_started(self.probe.replica_rate(), run_for);
        let mut arrivals = Arrivals::new(&self.probe.load, self.probe.shard, run_for);
        let mut timer = Timer::new(self.settings.timer);
        let mut iteration: u64 = 0;
        let mut last_burst = None;
        let mut exhausted = false;
        let mut next_report = report_every.map(|every| (start + every, every));
        'arrivals: while let Some(next) = arrivals.peek() {
            let due = start + next.offset;
            let wake = next_report.map_or(due, |(at, _)| at.min(due));
            if !self.wait_for_arrival(&mut timer, wake, in_flight).await {
                break;
            }
            let now = Instant::now();
            if let Some((at, every)) = next_report.filter(|(at, _)| *at <= now) {
                self.recorder.window_closed(WindowSpan::UntilClosed);
                next_report = Some((at + every, every));
            }
            self.recorder.planned_rate(arrivals.rate_at(now - start));
            let mut tally = ArrivalTally::default();
            while let Some(arrival) = arrivals.peek().filter(|a| start + a.offset <= now) {
                if self.data_exhausted(iteration) {
                    tracing::info!(probe = %self.probe.name, "data rows exhausted (on_end: stop): run ends");
                    exhausted = true;
                    self.recorder.arrivals(&tally);
                    break 'arrivals;
                }
                arrivals.next();
                if arrival.burst && last_burst != Some(arrival.offset) {
                    last_burst = Some(arrival.offset);
                    self.recorder.burst(start + arrival.offset);
                }
                let due = Due {
                    at: start + arrival.offset,
                    iteration,
                };
                self.dispatch(in_flight, &run, due, now, &mut tally);
                iteration += 1;
                // A replay must reach the target in log order: let each overdue entry start
                // before the next is spawned (tokio runs the newest spawned task first).
                if self.probe.replay.is_some() {
                    tokio::task::yield_now().await;
                }
            }
            self.recorder.arrivals(&tally);
        }
        // The last arrival comes before the end: the run still lasts its whole `for` (unless
        // its data ran out), so its achieved rate is over the same span as its planned one.
        if let Some(run_for) = run_for.filter(|_| !exhausted) {
            self.wait_until(start + run_for).await;
        }
        self.recorder.run_ended();
        run
    }

    /// Sleeps until `at` on `timer`, or until a slot frees up when all of `max_in_flight`
    /// are taken: then the next arrival takes the slot as soon as it is due, not on the next
    /// timer tick (at a rate beyond what the target can take, this is a closed loop at full
    /// speed, every request still timed from its own ideal instant). False on shutdown.
    async fn wait_for_arrival(
        &self,
        timer: &mut Timer,
        at: Instant,
        in_flight: &Semaphore,
    ) -> bool {
        let slot_freed = async {
            if in_flight.available_permits() > 0 {
                std::future::pending::<()>().await;
            }
            // Only the wake-up is wanted: the arrival takes its own permit in `admit`.
            drop(in_flight.acquire().await);
        };
        tokio::select! {
            biased;
            () = self.handle.shutdown.cancelled() => false,
            () = timer.sleep_until(at) => true,
            () = slot_freed => true,
        }
    }

    /// Starts one iteration due at `due`, or drops it (counted in `tally`) when the guard,
    /// the rate cap or `max_in_flight` says no.
    fn dispatch(
        &self,
        in_flight: &Arc<Semaphore>,
        run: &TaskTracker,
        due: Due,
        now: Instant,
        tally: &mut ArrivalTally,
    ) {
        let Due { at: due, iteration } = due;
        tally.arrivals += 1;
        let permit = match self.admit(in_flight, now) {
            Ok(permit) => permit,
            Err(reason) => return tally.drop(reason),
        };
        self.recorder.iteration_started(due, now - due);
        let recorder = self.recorder.clone();
        let iterate = self.iterate.clone();
        let iteration = async move {
            let report = iterate.iterate(due, iteration).await;
            recorder.iteration_finished(&report);
            drop(permit);
        };
        // Boxed once here: the iteration's state (about 4 KB) is then not copied again by
        // each wrapper and by the spawn.
        self.handle
            .iterations
            .spawn(run.track_future(Box::pin(iteration)));
    }

    /// Whether this replica's iteration `iteration` would find no data row (`on_end: stop`).
    fn data_exhausted(&self, iteration: u64) -> bool {
        let fleet_iteration = self.probe.shard.fleet_iteration(iteration);
        let limit = self.probe.data.as_ref().and_then(|d| d.iteration_limit());
        limit.is_some_and(|limit| fleet_iteration >= limit)
    }

    /// Whether an arrival may start: the guard first (a paused probe takes no share of the
    /// cap), then the process-wide cap, then `max_in_flight`.
    fn admit(
        &self,
        in_flight: &Arc<Semaphore>,
        now: Instant,
    ) -> Result<OwnedSemaphorePermit, DropReason> {
        if !self.recorder.guard_admits(now) {
            return Err(DropReason::Paused);
        }
        if self
            .settings
            .rate_cap
            .as_ref()
            .is_some_and(|cap| !cap.try_take(now))
        {
            return Err(DropReason::RateCap);
        }
        in_flight
            .clone()
            .try_acquire_owned()
            .map_err(|_| DropReason::MaxInFlight)
    }
}

//! Wakes a probe's scheduler at its next arrival: to the microsecond with a Linux timerfd,
//! or on tokio's timer wheel (tests on a paused clock, other systems).
//!
//! Why not tokio's wheel in production: it rounds every sleep up to the next millisecond,
//! which a request then carries as latency (measured from its ideal instant), and a sleep
//! that crosses one of the wheel's 64 ms or 4 s boundaries wakes the process once more per
//! boundary to move the entry down a level. At 10 arrivals/s that was three or four
//! wake-ups per arrival where one is needed.

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, sleep_until};

/// The shortest time between two wake-ups of an exact timer: arrivals that fall due within
/// one tick start together (each still timed from its own ideal instant), so that at
/// 20 000/s the scheduler wakes 1000 times a second, not 20 000 (each wake-up of an idle
/// thread costs more than the requests it starts), while at up to 1000/s every arrival
/// starts at its own instant.
const EXACT_TICK: Duration = Duration::from_micros(1000);

/// Which clock a schedule sleeps on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// A timerfd (Linux), falling back to the wheel where there is none.
    Exact,
    /// tokio's timer wheel: follows a paused test clock; 1 ms resolution.
    Wheel,
}

/// One schedule's timer.
#[derive(Debug)]
pub(super) struct Timer {
    exact: Option<Exact>,
}

/// A timerfd and the instant it is armed for (so a sleep cancelled and asked for again,
/// as when a finished iteration wakes the scheduler first, costs no system call).
#[derive(Debug)]
struct Exact {
    fd: AsyncFd<OwnedFd>,
    armed: Option<Instant>,
    /// The instant the last completed sleep was for (not when it woke: a late wake-up must
    /// not push the next one later too).
    last_until: Option<Instant>,
}

impl Timer {
    /// A timer of `kind`; must be made inside the runtime, which polls the timerfd.
    pub(super) fn new(kind: TimerKind) -> Self {
        let exact = match kind {
            TimerKind::Exact => exact_timer()
                .map(|fd| Exact {
                    fd,
                    armed: None,
                    last_until: None,
                })
                .inspect_err(|error| {
                    tracing::debug!(%error, "no timerfd: arrivals wake on the 1 ms timer wheel");
                })
                .ok(),
            TimerKind::Wheel => None,
        };
        Self { exact }
    }

    /// Sleeps until `at` (an exact timer: or one tick after the instant of its last sleep,
    /// when that is later).
    pub(super) async fn sleep_until(&mut self, at: Instant) {
        let Some(exact) = &mut self.exact else {
            return sleep_until(at).await;
        };
        let at = exact
            .last_until
            .map_or(at, |last| at.max(last + EXACT_TICK));
        match exact.sleep_until(at).await {
            Ok(()) => exact.last_until = Some(at),
            Err(error) => {
                tracing::warn!(%error, "timerfd failed: arrivals wake on the 1 ms timer wheel");
                self.exact = None;
                sleep_until(at).await;
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn exact_timer() -> io::Result<AsyncFd<OwnedFd>> {
    use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
    let fd = timerfd_create(
        TimerfdClockId::Monotonic,
        TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
    )?;
    // `new` is deprecated because a type may return a different descriptor later, or close
    // it while registered; an `OwnedFd` owned by the `AsyncFd` does neither, and the safe
    // constructor keeps this crate free of `unsafe`.
    #[allow(deprecated)]
    AsyncFd::new(fd)
}

#[cfg(not(target_os = "linux"))]
fn exact_timer() -> io::Result<AsyncFd<OwnedFd>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "timerfd is Linux only",
    ))
}

impl Exact {
    /// Arms the timerfd for `at` (unless it already is) and waits; returns at or after `at`.
    #[cfg(target_os = "linux")]
    async fn sleep_until(&mut self, at: Instant) -> io::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        loop {
            let delay = at.saturating_duration_since(Instant::now());
            if delay.is_zero() {
                return Ok(());
            }
            if self.armed != Some(at) {
                let spec = Itimerspec {
                    it_interval: Timespec {
                        tv_sec: 0,
                        tv_nsec: 0,
                    },
                    it_value: Timespec {
                        tv_sec: delay.as_secs() as i64,
                        tv_nsec: i64::from(delay.subsec_nanos()),
                    },
                };
                // Re-arming also clears an expiry left unread by a cancelled sleep.
                timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
                self.armed = Some(at);
            }
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            // A stale readiness reads nothing (`WouldBlock`): the loop waits again.
            if let Ok(read) =
                ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?))
            {
                read?;
                self.armed = None;
                // Read out, the timerfd stays unreadable until armed again: saying so spares
                // the next sleep a read that could only fail.
                ready.clear_ready();
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    async fn sleep_until(&mut self, at: Instant) -> io::Result<()> {
        sleep_until(at).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_exact_timer_wakes_at_its_instant_not_on_the_next_millisecond() {
        let mut timer = Timer::new(TimerKind::Exact);
        assert!(timer.exact.is_some(), "timerfd is available on Linux");
        let mut lateness = Vec::new();
        for _ in 0..20 {
            let at = Instant::now() + Duration::from_micros(1300);
            timer.sleep_until(at).await;
            let now = Instant::now();
            assert!(now >= at, "woke {:?} early", at - now);
            lateness.push(now - at);
        }
        lateness.sort();
        // tokio's wheel would round 1.3 ms up to 2 ms: 0.7 ms late at best.
        assert!(
            lateness[10] < Duration::from_micros(500),
            "median lateness {:?}",
            lateness[10]
        );
    }

    #[tokio::test]
    async fn wake_ups_are_a_tick_apart_at_least() {
        let mut timer = Timer::new(TimerKind::Exact);
        let start = Instant::now();
        timer.sleep_until(start).await;
        let first = Instant::now() + Duration::from_micros(100);
        timer.sleep_until(first).await;
        timer.sleep_until(first).await;
        assert!(Instant::now() - first >= EXACT_TICK);
    }

    #[tokio::test]
    async fn a_cancelled_sleep_leaves_nothing_that_ends_the_next_one_early() {
        let mut timer = Timer::new(TimerKind::Exact);
        let at = Instant::now() + Duration::from_millis(5);
        // Cancelled before its instant; the timerfd then expires with nobody reading it.
        let cancelled = tokio::time::timeout(Duration::from_millis(1), timer.sleep_until(at));
        assert!(cancelled.await.is_err());
        std::thread::sleep(Duration::from_millis(6));
        let at = Instant::now() + Duration::from_millis(20);
        timer.sleep_until(at).await;
        assert!(Instant::now() >= at);
    }
}

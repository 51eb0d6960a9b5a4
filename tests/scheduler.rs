//! The scheduler on a paused clock with a stub in place of the HTTP runner: exact arrival
//! offsets, drops at `max_in_flight`, skipped runs, and a clean stop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use loadprobe::config::Config;
use loadprobe::metrics::{Metrics, ProbeMetrics};
use loadprobe::outcome::Outcome;
use loadprobe::plan::Plan;
use loadprobe::recorder::Recorder;
use loadprobe::report::{IterationReport, StepReport};
use loadprobe::scheduler::{Iterate, ProbeSchedule, ScheduleHandle, ScheduleSettings, TimerKind};
use loadprobe::status::StatusBoard;
use tokio::time::Instant;

/// Records when each iteration was meant to start, takes `service_time`, and succeeds.
struct Stub {
    service_time: Duration,
    intended: Mutex<Vec<Instant>>,
}

impl Iterate for Stub {
    async fn iterate(&self, intended_at: Instant, _iteration: u64) -> IterationReport {
        self.intended.lock().expect("lock").push(intended_at);
        tokio::time::sleep(self.service_time).await;
        let step = StepReport {
            step: 0,
            outcome: Outcome::Success,
            status: Some(200),
            latency: Instant::now() - intended_at,
            detail: None,
            retry_after: None,
            snippet: None,
        };
        IterationReport {
            scenario: 0,
            planned_steps: 1,
            intended_at: intended_at.into_std(),
            finished_at: Instant::now().into_std(),
            steps: vec![step],
            trace_id: None,
        }
    }
}

struct Harness {
    stub: Arc<Stub>,
    recorder: Arc<Recorder>,
    schedule: ScheduleHandle,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    fn metrics(&self) -> &ProbeMetrics {
        self.recorder.metrics()
    }
}

fn start(schedule: &str, load: &str, service_time: Duration) -> Harness {
    let yaml = format!(
        "targets: {{t: {{url: 'http://127.0.0.1:9', timeout: 2s}}}}\n\
         probes:\n- name: p\n  target: t\n  schedule: {schedule}\n  load: {load}\n  request: {{path: /}}\n"
    );
    let plan = Plan::try_from(Config::parse(&yaml, |_| None).expect("parses")).expect("valid");
    let probe = plan.probes[0].clone();
    let stub = Arc::new(Stub {
        service_time,
        intended: Mutex::new(Vec::new()),
    });
    let recorder = Arc::new(Recorder::new(
        &probe,
        &Metrics::new(&plan),
        &Arc::new(StatusBoard::default()),
    ));
    let settings = ScheduleSettings {
        report_interval: Duration::from_secs(60),
        rate_cap: None,
        timer: TimerKind::Wheel,
    };
    let schedule = ProbeSchedule::new(probe, stub.clone(), recorder.clone(), settings);
    let handle = schedule.handle();
    let task = tokio::spawn(schedule.run());
    Harness {
        stub,
        recorder,
        schedule: handle,
        task,
    }
}

#[tokio::test(start_paused = true)]
async fn arrivals_at_rate_100_are_planned_at_exact_offsets() {
    let h = start(
        "{every: 1h, for: 1s}",
        "{rate: 100, max_in_flight: 1000}",
        Duration::from_millis(5),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let intended = h.stub.intended.lock().expect("lock").clone();
    assert_eq!(intended.len(), 100, "one run of 1 s at 100/s");
    for (i, at) in intended.iter().enumerate() {
        assert_eq!(
            *at - intended[0],
            Duration::from_millis(10 * i as u64),
            "arrival {i}"
        );
    }
    assert_eq!(h.metrics().arrivals(), 100);
    assert_eq!(h.metrics().dropped_at_max_in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_run_asked_for_between_runs_starts_at_once_and_the_schedule_goes_on() {
    let h = start(
        "{every: 1h, for: 1s}",
        "{rate: 10, max_in_flight: 100}",
        Duration::from_millis(5),
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.metrics().arrivals(), 10, "the start-up run");
    h.schedule.run_now.notify_one();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        h.metrics().arrivals(),
        20,
        "a second run, 50 min before its slot"
    );
    let intended = h.stub.intended.lock().expect("lock").clone();
    let gap = intended[10] - intended[0];
    assert!(
        gap >= Duration::from_secs(10) && gap < Duration::from_millis(10_100),
        "{gap:?}"
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(h.metrics().arrivals(), 30, "the hourly slot still runs");
    assert_eq!(h.metrics().runs_skipped(), 0);
}

#[tokio::test(start_paused = true)]
async fn drops_are_counted_when_max_in_flight_is_reached() {
    let h = start(
        "{every: 1h, for: 500ms}",
        "{rate: 100, max_in_flight: 5}",
        Duration::from_secs(1),
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(h.metrics().arrivals(), 50);
    assert_eq!(
        h.metrics().dropped_at_max_in_flight(),
        45,
        "never queued, never caught up"
    );
    assert_eq!(h.stub.intended.lock().expect("lock").len(), 5);
    assert_eq!(h.metrics().in_flight(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_run_still_going_when_the_next_is_due_is_skipped_and_counted() {
    // Iterations outlast the 1 s slot: the run ends at 2.5 s, so slots at 1 s and 2 s pass.
    let h = start(
        "{every: 1s, for: 1s}",
        "{rate: 10, max_in_flight: 100}",
        Duration::from_millis(1500),
    );
    tokio::time::sleep(Duration::from_millis(2900)).await;
    assert_eq!(h.metrics().runs_skipped(), 2);
    assert_eq!(h.metrics().arrivals(), 10, "the skipped slots sent nothing");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.metrics().arrivals(),
        11,
        "the next run starts on its slot at 3 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_probe_leaves_nothing_running() {
    let mut h = start(
        "continuous",
        "{rate: 100, max_in_flight: 100}",
        Duration::from_millis(50),
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    h.schedule.shutdown.cancel();
    (&mut h.task).await.expect("schedule task ends on shutdown");
    let arrivals = h.metrics().arrivals();
    assert!((100..=101).contains(&arrivals), "{arrivals}");
    h.schedule.iterations.close();
    tokio::time::timeout(Duration::from_secs(1), h.schedule.iterations.wait())
        .await
        .expect("in-flight iterations finish");
    assert_eq!(h.metrics().in_flight(), 0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        h.metrics().arrivals(),
        arrivals,
        "no arrivals after the stop"
    );
}

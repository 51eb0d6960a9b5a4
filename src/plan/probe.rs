//! A probe: a named, scheduled load against one target, and building one from its config
//! by handing each section to its builder.

use std::path::Path;
use std::sync::Arc;

use super::data::Feeder;
use super::fingerprint::Fingerprint;
use super::guard::{self, GuardSettings};
use super::load::{self, LoadModel, LoadProfile};
use super::problems::{At, check_name};
use super::rate::Rate;
use super::replay::{self, Replay};
use super::schedule::{self, Schedule};
use super::shard::Shard;
use super::slo::{self, Slo};
use super::steps::{self, BuiltSteps, Scenario, Step};
use super::target::Target;
use crate::config::ProbeConfig;

/// A named, scheduled load against one target.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Config name: the `probe` label.
    pub name: String,
    /// The target every step is sent to.
    pub target: Arc<Target>,
    /// When runs happen.
    pub schedule: Schedule,
    /// How arrivals are spaced in a run, for the whole fleet (see `shard`).
    pub load: LoadProfile,
    /// This replica's share of the arrivals.
    pub shard: Shard,
    /// Iterations in flight at most; beyond it arrivals are dropped.
    pub max_in_flight: usize,
    /// Requests of one iteration, in order (at least one).
    pub steps: Vec<Step>,
    /// Names of the variables its steps extract, indexed by
    /// [`Var::Extracted`](super::template::Var::Extracted).
    pub variables: Vec<String>,
    /// Weighted scenarios, each a range of `steps`; empty without a mix.
    pub scenarios: Vec<Scenario>,
    /// Seed of the scenario choice.
    pub mix_seed: u64,
    /// Rows fed to iterations.
    pub data: Option<Feeder>,
    /// The access log it replays (its steps are then its routes).
    pub replay: Option<Replay>,
    /// Performance targets.
    pub slo: Slo,
    /// When to pause while the target is failing.
    pub guard: Option<GuardSettings>,
    /// Equal for two loads of the same configuration and data (see `fingerprint.rs`).
    pub fingerprint: u64,
}

impl Probe {
    /// Mean arrivals per second this replica plans (the fleet's over the shard count).
    pub fn replica_rate(&self) -> Rate {
        crate::arrival::mean_rate(&self.load).share(self.shard.count)
    }
}

/// The probe of `p` (at `probes[i]`), or `None` after recording what is wrong with it.
/// Sections are checked in config order, so problems are reported in that order.
pub(super) fn build_probe(
    mut at: At<'_>,
    p: &ProbeConfig,
    targets: &[Arc<Target>],
    base_dir: &Path,
) -> Option<Probe> {
    check_name(at.key("name"), &p.name);
    let Some(target) = targets.iter().find(|t| t.name == p.target).cloned() else {
        at.key("target")
            .add(format!("unknown target `{}`", p.target));
        return None;
    };
    let schedule = schedule::build_schedule(at.key("schedule"), &p.schedule);
    let model = match &p.replay {
        // A replay's timing comes from its log, loaded below.
        Some(_) => {
            load::check_replay_load(at.key("load"), &p.load);
            None
        }
        None => load::build_load(at.key("load"), &p.load),
    };
    if p.load.max_in_flight == 0 {
        at.key("load")
            .key("max_in_flight")
            .add("must be at least 1");
    }
    let slo = slo::build_slo(at.key("slo"), p.slo.as_ref());
    let data = p
        .data
        .as_ref()
        .and_then(|d| at.key("data").check(Feeder::load(d, base_dir)));
    let replay = p
        .replay
        .as_ref()
        .and_then(|r| replay::build_replay(at.key("replay"), p, r, &target, base_dir));
    let no_steps = || BuiltSteps {
        steps: None,
        variables: Vec::new(),
        scenarios: Vec::new(),
    };
    let built = match (&replay, &p.replay) {
        (Some(replay), _) => BuiltSteps {
            steps: Some(replay.steps(&target)),
            ..no_steps()
        },
        // The replay's own error says what is wrong; its probe has no steps to check.
        (None, Some(_)) => no_steps(),
        (None, None) => steps::build_steps(at.reborrow(), p, &target, data.as_ref()),
    };
    let model = match &replay {
        Some(replay) => Some(LoadModel::Replay(replay.timing())),
        None => model,
    };
    let fingerprint = Fingerprint::default()
        .debug(p)
        .hash(&target.fingerprint)
        .hash(&data.as_ref().map(Feeder::content_hash))
        .debug(&replay.as_ref().map(|r| &r.entries))
        .finish();
    let (schedule, model, steps) = (schedule?, model?, built.steps?);
    let mix_seed = p.load.seed.unwrap_or_else(|| fastrand::u64(..));
    // Checked last, and only for an otherwise whole probe: its problems come after the
    // others' and are not reported for a probe that cannot run anyway.
    let guard = match &p.guard {
        Some(g) => Some(guard::build_guard(at.key("guard"), g)?),
        None => None,
    };
    Some(Probe {
        fingerprint,
        name: p.name.clone(),
        target,
        schedule,
        load: LoadProfile {
            model,
            seed: p.load.seed,
        },
        shard: Shard::WHOLE,
        max_in_flight: p.load.max_in_flight,
        steps,
        variables: built.variables,
        scenarios: built.scenarios,
        mix_seed,
        data,
        replay,
        slo: slo?,
        guard,
    })
}

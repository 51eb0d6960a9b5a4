//! Deserializing `schedule:`, which is either the word `continuous` or a mapping with
//! `every` or `cron` plus `for`; a hand-written visitor gives errors that say which.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use super::ScheduleConfig;

/// The mapping form of a schedule, before it is told apart into `every` or `cron`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleWindow {
    #[serde(
        default,
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::optional"
    )]
    every: Option<Duration>,
    #[serde(default)]
    cron: Option<String>,
    #[serde(
        rename = "for",
        with = "jiff::fmt::serde::unsigned_duration::friendly::compact::required"
    )]
    run_for: Duration,
}

impl<'de> Deserialize<'de> for ScheduleConfig {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScheduleVisitor)
    }
}

/// Accepts `continuous`, `{every, for}` or `{cron, for}`, with errors that say which.
struct ScheduleVisitor;

impl<'de> Visitor<'de> for ScheduleVisitor {
    type Value = ScheduleConfig;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "`continuous`, `{every: DURATION, for: DURATION}` or `{cron: EXPR, for: DURATION}`",
        )
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        match value {
            "continuous" => Ok(ScheduleConfig::Continuous),
            other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let window = ScheduleWindow::deserialize(de::value::MapAccessDeserializer::new(map))?;
        match (window.every, window.cron) {
            (Some(every), None) => Ok(ScheduleConfig::Every {
                every,
                run_for: window.run_for,
            }),
            (None, Some(cron)) => Ok(ScheduleConfig::Cron {
                cron,
                run_for: window.run_for,
            }),
            _ => Err(de::Error::custom(
                "a schedule needs exactly one of `every` or `cron`",
            )),
        }
    }
}

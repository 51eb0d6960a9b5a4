//! What one iteration knows while it runs: its number, its UUID, its data row and the
//! values its steps have extracted so far; every action renders its templates with it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::plan::{Probe, Template, Var};

/// Variables of one iteration.
#[derive(Debug)]
pub struct Context<'p> {
    /// The data row this iteration took, if the probe has data.
    row: Option<&'p [String]>,
    probe: String,
    iteration: u64,
    /// One per iteration, made on first use.
    uuid: OnceCell<String>,
    /// Extracted values, indexed like the probe's variables.
    values: Vec<Option<String>>,
}

impl<'p> Context<'p> {
    /// The context of iteration `iteration` of `probe`, with its data row.
    pub fn new(probe: &Probe, iteration: u64, row: Option<&'p [String]>) -> Self {
        Self {
            row,
            probe: probe.name.clone(),
            iteration,
            uuid: OnceCell::new(),
            values: vec![None; probe.variables.len()],
        }
    }

    /// The value of `var`, if it has one.
    pub fn value(&self, var: Var) -> Option<Cow<'_, str>> {
        match var {
            Var::Extracted(index) => self.values.get(index)?.as_deref().map(Cow::Borrowed),
            Var::Data(column) => self.row?.get(column).map(|v| Cow::Borrowed(v.as_str())),
            Var::Iteration => Some(Cow::Owned(self.iteration.to_string())),
            Var::Probe => Some(Cow::Borrowed(&self.probe)),
            Var::Uuid => Some(Cow::Borrowed(self.uuid.get_or_init(random_uuid))),
            Var::UnixMs => {
                let ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis();
                Some(Cow::Owned(ms.to_string()))
            }
        }
    }

    /// Stores an extracted value.
    pub fn set(&mut self, index: usize, value: String) {
        self.values[index] = Some(value);
    }

    /// Renders a template with this context.
    pub fn render(&self, template: &Template) -> Option<String> {
        template.render(|var| self.value(var))
    }
}

/// A random (version 4) UUID.
fn random_uuid() -> String {
    let bits = (fastrand::u128(..) & !(0xF000u128 << 64) | (0x4000u128 << 64)) & !(0xCu128 << 60)
        | (0x8u128 << 60);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_variant_1() {
        let uuid = random_uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "{uuid}");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"), "{uuid}");
    }
}

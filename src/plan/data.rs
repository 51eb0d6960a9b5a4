//! Data feeders: rows loaded with the config (a CSV file, JSON Lines, or inline), taken one
//! per iteration. Which row an iteration takes is a pure function of its number, so the
//! scheduler and the runner need no shared cursor and replicas split rows like arrivals.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::{DataConfig, DataEnd, DataOrder};

/// Rows a feeder may hold: bounds memory, and a file beyond it is rejected whole.
pub const MAX_ROWS: usize = 1_000_000;
/// Largest data file read.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// A probe's rows, ready to hand out.
#[derive(Debug, Clone)]
pub struct Feeder {
    /// Column names, in the order of each row's values.
    pub columns: Vec<String>,
    rows: Arc<Vec<Vec<String>>>,
    order: DataOrder,
    on_end: DataEnd,
    seed: u64,
    /// The order of `shuffle` (one permutation, reused on every pass).
    permutation: Arc<Vec<u32>>,
}

impl Feeder {
    /// A hash of the columns and rows, so a reload notices a changed data file.
    pub fn content_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        self.columns.hash(&mut hasher);
        self.rows.hash(&mut hasher);
        hasher.finish()
    }

    /// Loads `config`, reading files relative to `base_dir`.
    pub fn load(config: &DataConfig, base_dir: &Path) -> Result<Self, String> {
        let records = match (&config.file, &config.rows) {
            (Some(file), None) => read_file(&base_dir.join(file))?,
            (None, Some(rows)) => rows
                .iter()
                .map(|row| row.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                .collect(),
            _ => return Err("give exactly one of `file` or `rows`".to_owned()),
        };
        if records.is_empty() {
            return Err("has no rows".to_owned());
        }
        if records.len() > MAX_ROWS {
            return Err(format!("has {} rows; at most {MAX_ROWS}", records.len()));
        }
        let mut columns: Vec<String> = records.iter().flat_map(|r| r.keys().cloned()).collect();
        columns.sort();
        columns.dedup();
        // A row without a column gives it an empty value.
        let rows: Vec<Vec<String>> = records
            .into_iter()
            .map(|mut r| {
                columns
                    .iter()
                    .map(|c| r.remove(c).unwrap_or_default())
                    .collect()
            })
            .collect();
        let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
        let mut permutation: Vec<u32> = (0..rows.len() as u32).collect();
        fastrand::Rng::with_seed(seed).shuffle(&mut permutation);
        Ok(Self {
            columns,
            rows: Arc::new(rows),
            order: config.order,
            on_end: config.on_end,
            seed,
            permutation: Arc::new(permutation),
        })
    }

    /// Index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it holds no rows (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// How many iterations take a row before the run ends (`on_end: stop`), if limited.
    pub fn iteration_limit(&self) -> Option<u64> {
        (self.on_end == DataEnd::Stop).then_some(self.rows.len() as u64)
    }

    /// The row of (fleet-wide) iteration `n`, or `None` past the end with `on_end: stop`.
    pub fn row(&self, n: u64) -> Option<&[String]> {
        let len = self.rows.len() as u64;
        if self.iteration_limit().is_some_and(|limit| n >= limit) {
            return None;
        }
        let index = match self.order {
            DataOrder::Sequential => n % len,
            DataOrder::Shuffle => u64::from(self.permutation[(n % len) as usize]),
            DataOrder::Random => splitmix(self.seed ^ n) % len,
        };
        self.rows.get(index as usize).map(Vec::as_slice)
    }
}

/// A well-mixed hash of `x` (SplitMix64), so `random` order is a function of the iteration.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

type Record = BTreeMap<String, String>;

fn read_file(path: &Path) -> Result<Vec<Record>, String> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!("{shown} is {size} bytes; at most {MAX_FILE_BYTES}"));
    }
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        read_csv(path)
    } else {
        read_json_lines(path)
    }
}

fn read_csv(path: &Path) -> Result<Vec<Record>, String> {
    let shown = path.display();
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{shown}: {e}"))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut records = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| format!("{shown}: {e}"))?;
        if records.len() == MAX_ROWS {
            return Err(format!("{shown} has more than {MAX_ROWS} rows"));
        }
        if row.len() != header.len() {
            return Err(format!(
                "{shown} line {}: {} values for {} columns",
                i + 2,
                row.len(),
                header.len()
            ));
        }
        records.push(
            header
                .iter()
                .cloned()
                .zip(row.iter().map(str::to_owned))
                .collect(),
        );
    }
    Ok(records)
}

fn read_json_lines(path: &Path) -> Result<Vec<Record>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut records = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        if records.len() == MAX_ROWS {
            return Err(format!("{shown} has more than {MAX_ROWS} rows"));
        }
        let object: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| format!("{shown} line {}: {e}", i + 1))?;
        records.push(
            object
                .iter()
                .map(|(k, v)| (k.clone(), self::text(v)))
                .collect(),
        );
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feeder(order: DataOrder, on_end: DataEnd, rows: usize) -> Feeder {
        let rows = (1..=rows)
            .map(|i| BTreeMap::from([("id".to_owned(), serde_json::json!(i))]))
            .collect();
        let config = DataConfig {
            file: None,
            rows: Some(rows),
            order,
            on_end,
            seed: Some(7),
        };
        Feeder::load(&config, Path::new(".")).expect("loads")
    }

    #[test]
    fn sequential_rows_in_order_then_loop_or_stop() {
        let looping = feeder(DataOrder::Sequential, DataEnd::Loop, 3);
        let ids: Vec<&str> = (0..5)
            .map(|n| looping.row(n).expect("loops")[0].as_str())
            .collect();
        assert_eq!(ids, ["1", "2", "3", "1", "2"]);
        let stopping = feeder(DataOrder::Sequential, DataEnd::Stop, 3);
        assert_eq!(stopping.iteration_limit(), Some(3));
        assert!(stopping.row(2).is_some() && stopping.row(3).is_none());
    }

    #[test]
    fn shuffle_takes_every_row_once_per_pass() {
        let shuffled = feeder(DataOrder::Shuffle, DataEnd::Loop, 100);
        let mut ids: Vec<u32> = (0..100)
            .map(|n| shuffled.row(n).expect("row")[0].parse().expect("number"))
            .collect();
        assert_ne!(ids, (1..=100).collect::<Vec<_>>(), "shuffled");
        ids.sort_unstable();
        assert_eq!(ids, (1..=100).collect::<Vec<_>>(), "each row once");
    }

    #[test]
    fn random_rows_are_repeatable_for_a_seed() {
        let a = feeder(DataOrder::Random, DataEnd::Loop, 10);
        let b = feeder(DataOrder::Random, DataEnd::Loop, 10);
        let pick = |f: &Feeder| {
            (0..20)
                .map(|n| f.row(n).expect("row")[0].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(&a), pick(&b));
    }
}

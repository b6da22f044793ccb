//! Statistics and the Markdown table.

use crate::measure::Runtime;

/// What a metric counts.
#[derive(Clone, Copy)]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Mebibytes.
    MiB,
    /// A count.
    Count,
    /// Per second.
    PerSec,
}

/// One measured quantity: samples per runtime (in the runtimes' order).
pub struct Metric {
    /// What was measured.
    pub name: String,
    /// Its unit.
    pub unit: Unit,
    /// The samples, sorted, per runtime.
    pub samples: Vec<Vec<f64>>,
    /// Whether less is better (time, memory) or more (throughput).
    pub lower_is_better: bool,
}

impl Metric {
    /// A metric from unsorted samples.
    pub fn new(name: &str, unit: Unit, mut samples: Vec<Vec<f64>>, lower: bool) -> Metric {
        for s in &mut samples {
            s.sort_by(f64::total_cmp);
        }
        Metric {
            name: name.into(),
            unit,
            samples,
            lower_is_better: lower,
        }
    }

    /// The `q` quantile (nearest rank) of runtime `r`'s samples.
    pub fn quantile(&self, r: usize, q: f64) -> f64 {
        let s = &self.samples[r];
        if s.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
        s[rank - 1]
    }

    /// The median of runtime `r`.
    pub fn median(&self, r: usize) -> f64 {
        self.quantile(r, 0.5)
    }

    /// corral's median over runtime `r`'s (corral is runtime 0).
    pub fn ratio(&self, r: usize) -> f64 {
        self.median(0) / self.median(r)
    }
}

/// `v` with its unit, as the table and the chart print it.
pub fn fmt(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Count => format!("{v:.0}"),
        Unit::PerSec => format!("{v:.1}/s"),
        Unit::Ms => format!("{v:.2} ms"),
        Unit::MiB => format!("{v:.2} MiB"),
    }
}

/// The table: per metric, each runtime's median (p90 / p99 where there
/// are enough samples), and corral's ratio to each peer.
pub fn table(metrics: &[Metric], rts: &[Runtime], machine: &str, how: &str) -> String {
    let mut t = String::new();
    t.push_str(&format!("Machine: {machine}. {how}.\n\n"));
    t.push_str("| metric |");
    for rt in rts {
        t.push_str(&format!(" {} |", rt.name));
    }
    for rt in &rts[1..] {
        t.push_str(&format!(" corral / {} |", rt.name));
    }
    t.push('\n');
    t.push_str(&"|---".repeat(1 + rts.len() + rts.len() - 1));
    t.push_str("|\n");
    for m in metrics {
        t.push_str(&format!("| {} |", m.name));
        for r in 0..rts.len() {
            let mut cell = fmt(m.median(r), m.unit);
            if m.samples[r].len() >= 10 {
                cell.push_str(&format!(
                    " (p90 {}, p99 {})",
                    fmt(m.quantile(r, 0.9), m.unit),
                    fmt(m.quantile(r, 0.99), m.unit)
                ));
            }
            t.push_str(&format!(" {cell} |"));
        }
        for r in 1..rts.len() {
            t.push_str(&format!(" {:.2}× |", m.ratio(r)));
        }
        t.push('\n');
    }
    t.push_str(
        "\nTimes and memory: lower is better, a ratio under 1 favours corral. \
         Containers per second: higher is better, a ratio over 1 favours corral.\n",
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let m = Metric::new(
            "x",
            Unit::Ms,
            vec![(1..=100).rev().map(f64::from).collect()],
            true,
        );
        assert_eq!(m.median(0), 50.0);
        assert_eq!(m.quantile(0, 0.9), 90.0);
        assert_eq!(m.quantile(0, 0.99), 99.0);
        let one = Metric::new("y", Unit::Ms, vec![vec![7.0]], true);
        assert_eq!(one.quantile(0, 0.99), 7.0);
    }
}

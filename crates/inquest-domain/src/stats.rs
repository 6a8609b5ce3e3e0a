//! Robust statistics over metric series: medians and MAD, never a plain mean and
//! standard deviation, so one spike in the baseline does not hide the next.

use serde::{Deserialize, Serialize};

/// Summary of a baseline window for one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub count: usize,
    pub median: f64,
    /// Median absolute deviation (unscaled).
    pub mad: f64,
    pub p05: f64,
    pub p95: f64,
}

impl Baseline {
    /// Build a baseline from raw values; `None` when there are none.
    pub fn from_values(values: &[f64]) -> Option<Self> {
        Self::from_buffer(&mut values.to_vec())
    }

    /// [`Baseline::from_values`] over a buffer it reorders and drops the non-finite
    /// values from, so a caller computing many baselines reuses one allocation.
    pub fn from_buffer(v: &mut Vec<f64>) -> Option<Self> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        // Equal elements under `total_cmp` are the same bits, so an unstable sort
        // gives the same slice as a stable one.
        v.sort_unstable_by(f64::total_cmp);
        let median = quantile_sorted(v, 0.5);
        Some(Self {
            count: v.len(),
            median,
            mad: median_deviation(v, median),
            p05: quantile_sorted(v, 0.05),
            p95: quantile_sorted(v, 0.95),
        })
    }

    /// A robust scale: 1.4826·MAD, floored so a flat baseline does not turn
    /// measurement noise into an infinite score.
    pub fn scale(&self) -> f64 {
        let mad_sigma = 1.4826 * self.mad;
        let spread = (self.p95 - self.p05) / 3.29;
        let floor = (self.median.abs() * 0.01).max(1e-6);
        mad_sigma.max(spread * 0.25).max(floor)
    }

    /// Robust z-score of a value against this baseline.
    pub fn z(&self, value: f64) -> f64 {
        (value - self.median) / self.scale()
    }
}

/// Linear-interpolated quantile of a sorted slice (`q` in `[0, 1]`).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Median of `|x - median|` over sorted finite `v`, without sorting the deviations:
/// they fall along the points below the median and rise along those above it, two
/// sorted runs merged here up to the middle ranks. The same value as sorting them.
fn median_deviation(v: &[f64], median: f64) -> f64 {
    let n = v.len();
    let split = v.partition_point(|x| *x < median);
    // Deviations in ascending order: `below` walks down from the median, `above` up.
    let (mut below, mut above) = (split, split);
    let mut next = || {
        let b = (below > 0).then(|| (v[below - 1] - median).abs());
        let a = (above < n).then(|| (v[above] - median).abs());
        match (b, a) {
            (Some(b), Some(a)) if b.total_cmp(&a).is_lt() => {
                below -= 1;
                b
            }
            (Some(b), None) => {
                below -= 1;
                b
            }
            (_, Some(a)) => {
                above += 1;
                a
            }
            (None, None) => f64::NAN,
        }
    };
    let pos = 0.5 * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let mut at_lo = f64::NAN;
    for _ in 0..=lo {
        at_lo = next();
    }
    let at_hi = if hi > lo { next() } else { at_lo };
    at_lo + (at_hi - at_lo) * (pos - lo as f64)
}

/// Median of unsorted values (`NaN` when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_ignores_a_single_outlier() {
        let mut values = vec![10.0; 50];
        values.iter_mut().enumerate().for_each(|(i, v)| *v += (i % 5) as f64 * 0.2);
        values.push(1000.0);
        let b = Baseline::from_values(&values).expect("values");
        assert!((b.median - 10.4).abs() < 0.3, "{b:?}");
        assert!(b.scale() < 1.0, "{b:?}");
        assert!(b.z(20.0) > 10.0);
    }

    #[test]
    fn flat_baseline_has_a_floor_scale() {
        let b = Baseline::from_values(&[5.0; 20]).expect("values");
        assert!(b.scale() > 0.0);
        assert!(b.z(5.0).abs() < 1e-9);
    }

    #[test]
    fn empty_baseline_is_none() {
        assert!(Baseline::from_values(&[]).is_none());
        assert!(Baseline::from_values(&[f64::NAN]).is_none());
    }

    /// The baseline as first written: both the values and their deviations sorted.
    fn sorted_baseline(values: &[f64]) -> Baseline {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let median = quantile_sorted(&v, 0.5);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Baseline {
            count: v.len(),
            median,
            mad: quantile_sorted(&dev, 0.5),
            p05: quantile_sorted(&v, 0.05),
            p95: quantile_sorted(&v, 0.95),
        }
    }

    #[test]
    fn baseline_is_bit_identical_to_sorting_the_deviations() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..2_000 {
            let len = 1 + (next() % 300) as usize;
            let values: Vec<f64> = (0..len)
                .map(|_| match case % 4 {
                    // Few distinct values: ties at the median and among the deviations.
                    0 => (next() % 5) as f64,
                    1 => (next() % 1_000_000) as f64 / 997.0 - 500.0,
                    2 => f64::from_bits(next() >> 2) * if next() % 2 == 0 { 1.0 } else { -1.0 },
                    _ => [0.0, -0.0, 1e-300, -1e-300, 3.5][(next() % 5) as usize],
                })
                .collect();
            let got = Baseline::from_values(&values).expect("values");
            let want = sorted_baseline(&values);
            let bits = |b: &Baseline| [b.median, b.mad, b.p05, b.p95].map(f64::to_bits);
            assert_eq!(got.count, want.count, "case {case}");
            assert_eq!(bits(&got), bits(&want), "case {case}: {got:?} against {want:?}");
        }
    }
}

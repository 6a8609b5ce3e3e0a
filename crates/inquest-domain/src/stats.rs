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

    /// [`Baseline::from_values`] over a buffer it drops the non-finite values from,
    /// reorders and overwrites (with the deviations from the median), so a caller
    /// computing many baselines reuses one allocation.
    ///
    /// The quantiles are the ranks [`quantile_sorted`] reads, found by selection
    /// rather than a sort: under `total_cmp`, equal elements are the same bits, so
    /// the k-th smallest is the same value however the slice was reordered, and each
    /// figure is bit for bit the sorted computation's.
    pub fn from_buffer(v: &mut Vec<f64>) -> Option<Self> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let bounds = [0.05, 0.5, 0.95].map(|q| (q, rank_bounds(n, q)));
        let mut ranks = [0usize; 6];
        for (i, (_, (lo, hi))) in bounds.iter().enumerate() {
            (ranks[i], ranks[i + 3]) = (*lo, *hi);
        }
        ranks.sort_unstable();
        let mut at = [0.0; 6];
        select_ranks(v, 0, &ranks, &mut at);
        let value_at = |r: usize| at[ranks.partition_point(|x| *x < r)];
        let [p05, median, p95] = bounds.map(|(q, (lo, hi))| interpolate(n, q, value_at(lo), value_at(hi)));
        for x in v.iter_mut() {
            *x = (*x - median).abs();
        }
        let (lo, hi) = rank_bounds(n, 0.5);
        let mut dev = [0.0; 2];
        select_ranks(v, 0, &[lo, hi], &mut dev);
        Some(Self { count: n, median, mad: interpolate(n, 0.5, dev[0], dev[1]), p05, p95 })
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
    let (lo, hi) = rank_bounds(sorted.len(), q);
    interpolate(sorted.len(), q, sorted[lo], sorted[hi])
}

/// The two ranks quantile `q` of `n` values lies between: `⌊q·(n − 1)⌋`, `⌈q·(n − 1)⌉`.
fn rank_bounds(n: usize, q: f64) -> (usize, usize) {
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    (pos.floor() as usize, pos.ceil() as usize)
}

/// Quantile `q` of `n` values from the values at its two ranks (`rank_bounds`).
fn interpolate(n: usize, q: f64, at_lo: f64, at_hi: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    at_lo + (at_hi - at_lo) * (pos - pos.floor())
}

/// The values of `v` at the ascending `ranks` (as in `v` sorted by `total_cmp`;
/// repeats allowed), `v` holding the ranks from `offset`: select the middle rank,
/// then the lower ranks among the smaller values and the higher among the larger.
fn select_ranks(v: &mut [f64], offset: usize, ranks: &[usize], out: &mut [f64]) {
    if ranks.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let k = ranks[mid] - offset;
    let (below, at, above) = v.select_nth_unstable_by(k, f64::total_cmp);
    let at = *at;
    // Repeats of the middle rank on either side are the same value.
    let first = ranks[..mid].partition_point(|r| *r < ranks[mid]);
    let last = mid + 1 + ranks[mid + 1..].partition_point(|r| *r <= ranks[mid]);
    out[first..last].fill(at);
    select_ranks(below, offset, &ranks[..first], &mut out[..first]);
    select_ranks(above, offset + k + 1, &ranks[last..], &mut out[last..]);
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

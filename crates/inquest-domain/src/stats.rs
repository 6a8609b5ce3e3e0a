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
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let median = quantile_sorted(&v, 0.5);
        let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        Some(Self {
            count: v.len(),
            median,
            mad: quantile_sorted(&dev, 0.5),
            p05: quantile_sorted(&v, 0.05),
            p95: quantile_sorted(&v, 0.95),
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
}

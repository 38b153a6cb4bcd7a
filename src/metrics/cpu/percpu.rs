//! `percpu_usage_ratio`: each CPU's Δ as a ratio, divided as `cpu_usage_ratio` is (by the
//! host's Δ, else by the read times when the system counter is broken).

use super::{CPU_UNITS_PER_VCPU, Figures, Reading, ratio_metric, scale};
use crate::ecs::stats::CpuUsage;
use crate::metrics::Measured;
use crate::metrics::Metric;
use crate::metrics::catalog::PERCPU_USAGE_RATIO;

/// What one CPU's Δ is divided by for `percpu_usage_ratio`.
#[derive(Clone, Copy)]
pub(super) enum PercpuShare {
    /// Δ`system_cpu_usage`: a fraction of the host, then scaled like `cpu_usage_ratio`.
    System(u64),
    /// The read times (seconds), when the system counter is broken: cores in use × 1024 / the
    /// limit, as `cpu_usage_ratio` then.
    Wall(f64),
}

impl PercpuShare {
    pub(super) fn of(f: &Figures) -> Option<PercpuShare> {
        match (f.system_delta, f.seconds) {
            (Some(system), _) => Some(PercpuShare::System(system)),
            (None, Some(seconds)) if f.system_broken => Some(PercpuShare::Wall(seconds)),
            _ => None,
        }
    }

    fn ratio(self, delta_ns: u64, reading: &Reading) -> Option<f64> {
        match self {
            PercpuShare::System(system) => scale(
                delta_ns as f64 / system as f64,
                reading.online,
                reading.limit_units,
            ),
            PercpuShare::Wall(seconds) => {
                Some(delta_ns as f64 / (seconds * 1e9) * CPU_UNITS_PER_VCPU / reading.limit_units?)
            }
        }
    }
}

pub(super) fn metrics(
    m: &Measured,
    (cur, prev): (Option<&CpuUsage>, Option<&CpuUsage>),
    share: PercpuShare,
    reading: &Reading,
    out: &mut Vec<Metric>,
) {
    let cur_percpu = cur.and_then(|u| u.percpu_usage.as_deref());
    let prev_percpu = prev.and_then(|u| u.percpu_usage.as_deref());
    let (Some(cur_percpu), Some(prev_percpu)) = (cur_percpu, prev_percpu) else {
        return;
    };
    for (cpu, (&c, &p)) in cur_percpu.iter().zip(prev_percpu).enumerate() {
        // An all-zero slot is an offline CPU (cgroup v1 lists every possible CPU).
        if c == 0 {
            continue;
        }
        let Some(delta) = c.checked_sub(p) else {
            continue;
        };
        if let Some(scaled) = share.ratio(delta.saturating_mul(reading.unit_ns), reading) {
            let tags = m.cpu_tags(cpu);
            out.extend(ratio_metric(&PERCPU_USAGE_RATIO, scaled, tags));
        }
    }
}

//! Block IO: cumulative bytes and operations read and written, summed over devices, and the
//! byte rates over the interval.
//!
//! cgroup v1 writes ops as `Read`/`Write`, cgroup v2 as `read`/`write`: matched ignoring case.
//! A list that is null or absent (cgroup v2 leaves `io_serviced_recursive` null on some
//! hosts) emits no series rather than a false 0; an empty list is a real 0.

use super::{Measured, Metric, Tagger, Value, add};
use crate::ecs::stats::{BlkioEntry, BlkioOp, BlkioStats, ContainerStats};

type BlkioList = fn(&BlkioStats) -> Option<&Vec<BlkioEntry>>;

/// (cumulative name, rate name, list, op).
const IO: [(&str, Option<&str>, BlkioList, BlkioOp); 4] = [
    (
        "disk_read_bytes_total",
        Some("disk_read_bytes_per_sec"),
        |b| b.io_service_bytes_recursive.as_ref(),
        BlkioOp::Read,
    ),
    (
        "disk_written_bytes_total",
        Some("disk_written_bytes_per_sec"),
        |b| b.io_service_bytes_recursive.as_ref(),
        BlkioOp::Write,
    ),
    (
        "disk_read_iops_total",
        None,
        |b| b.io_serviced_recursive.as_ref(),
        BlkioOp::Read,
    ),
    (
        "disk_written_iops_total",
        None,
        |b| b.io_serviced_recursive.as_ref(),
        BlkioOp::Write,
    ),
];

pub fn metrics(measured: &[Measured], tagger: &Tagger, out: &mut Vec<Metric>) {
    for (name, rate_name, list, op) in IO {
        let read =
            |stats: &ContainerStats| Some(sum_op(stats.blkio_stats.as_ref().and_then(list)?, op));
        let mut total = None;
        let mut total_rate: Option<f64> = None;
        for m in measured {
            let Some(value) = read(m.cur) else { continue };
            add(&mut total, value);
            if m.included {
                out.push(Metric::new(name, Value::Int(value), m.tags()));
            }
            let Some(rate_name) = rate_name else { continue };
            // A counter that went backwards (restart) drops the rate.
            let delta = m.prev.and_then(read).and_then(|p| value.checked_sub(p));
            let Some(rate) = delta.zip(m.elapsed).map(|(d, s)| d as f64 / s) else {
                continue;
            };
            *total_rate.get_or_insert(0.0) += rate;
            if m.included {
                out.extend(Metric::derived(rate_name, rate, m.tags()));
            }
        }
        if let Some(total) = total {
            out.push(Metric::new(name, Value::Int(total), tagger.task()));
        }
        if let (Some(rate_name), Some(rate)) = (rate_name, total_rate) {
            out.extend(Metric::derived(rate_name, rate, tagger.task()));
        }
    }
}

fn sum_op(entries: &[BlkioEntry], op: BlkioOp) -> u64 {
    entries
        .iter()
        .filter(|e| e.op == Some(op))
        .filter_map(|e| e.value)
        .fold(0, u64::saturating_add)
}

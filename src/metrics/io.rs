//! Block IO: cumulative bytes and operations read and written, summed over devices.
//!
//! cgroup v1 writes ops as `Read`/`Write`, cgroup v2 as `read`/`write`: matched ignoring case.
//! A list that is null or absent (cgroup v2 leaves `io_serviced_recursive` null on some
//! hosts) emits no series rather than a false 0; an empty list is a real 0.

use super::{Measured, Metric, Value, add, task_tags};
use crate::ecs::stats::{BlkioEntry, BlkioStats};

type BlkioList = fn(&BlkioStats) -> Option<&Vec<BlkioEntry>>;

/// (name, list, op).
const IO: [(&str, BlkioList, &str); 4] = [
    (
        "disk_read_bytes_total",
        |b| b.io_service_bytes_recursive.as_ref(),
        "read",
    ),
    (
        "disk_written_bytes_total",
        |b| b.io_service_bytes_recursive.as_ref(),
        "write",
    ),
    (
        "disk_read_iops_total",
        |b| b.io_serviced_recursive.as_ref(),
        "read",
    ),
    (
        "disk_written_iops_total",
        |b| b.io_serviced_recursive.as_ref(),
        "write",
    ),
];

pub fn metrics(measured: &[Measured], out: &mut Vec<Metric>) {
    for (name, list, op) in IO {
        let mut total = None;
        for m in measured {
            let Some(entries) = m.cur.blkio_stats.as_ref().and_then(list) else {
                continue;
            };
            let value = sum_op(entries, op);
            add(&mut total, value);
            if m.included {
                out.push(Metric::new(name, Value::Int(value), m.tags()));
            }
        }
        if let Some(total) = total {
            out.push(Metric::new(name, Value::Int(total), task_tags()));
        }
    }
}

fn sum_op(entries: &[BlkioEntry], op: &str) -> u64 {
    entries
        .iter()
        .filter(|e| e.op.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(op)))
        .filter_map(|e| e.value)
        .fold(0, u64::saturating_add)
}

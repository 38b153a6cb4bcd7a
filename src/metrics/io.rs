//! Block IO: cumulative bytes and operations read and written, summed over devices, and the
//! byte rates over the interval.
//!
//! cgroup v1 writes ops as `Read`/`Write`, cgroup v2 as `read`/`write`: matched ignoring case.
//! A list that is null or absent (cgroup v2 leaves `io_serviced_recursive` null on some
//! hosts) emits no series rather than a false 0; an empty list is a real 0.
//!
//! Windows has no blkio (its lists are null, or the string "None" in one capture): its
//! counters are `storage_stats` (`read_size_bytes`, `write_size_bytes`,
//! `read_count_normalized`, `write_count_normalized`), read first when present (Linux sends
//! `storage_stats: {}`). These are the ECS agent's Windows `storageReadBytes`/`WriteBytes`.
//!
//! Every device is summed, as docker's CLI, the ECS agent and Datadog do. Where a
//! device-mapper device sits on a disk (devicemapper storage, LVM, dm-verity) each I/O is
//! counted once per layer; the payload cannot tell a stacked device from a second disk, so
//! the sum stays and the metrics reference says what to expect.

use super::{Measured, Metric, Tagger, Value, add};
use crate::ecs::stats::{BlkioEntry, BlkioOp, BlkioStats, ContainerStats, StorageStats};

type BlkioList = fn(&BlkioStats) -> Option<&Vec<BlkioEntry>>;
type StorageField = fn(&StorageStats) -> Option<u64>;

/// (cumulative name, rate name, blkio list, op, Windows storage_stats field).
const IO: [(&str, Option<&str>, BlkioList, BlkioOp, StorageField); 4] = [
    (
        "disk_read_bytes_total",
        Some("disk_read_bytes_per_sec"),
        |b| b.io_service_bytes_recursive.as_ref(),
        BlkioOp::Read,
        |s| s.read_size_bytes,
    ),
    (
        "disk_written_bytes_total",
        Some("disk_written_bytes_per_sec"),
        |b| b.io_service_bytes_recursive.as_ref(),
        BlkioOp::Write,
        |s| s.write_size_bytes,
    ),
    (
        "disk_read_iops_total",
        None,
        |b| b.io_serviced_recursive.as_ref(),
        BlkioOp::Read,
        |s| s.read_count_normalized,
    ),
    (
        "disk_written_iops_total",
        None,
        |b| b.io_serviced_recursive.as_ref(),
        BlkioOp::Write,
        |s| s.write_count_normalized,
    ),
];

pub fn metrics(measured: &[Measured], tagger: &Tagger, out: &mut Vec<Metric>) {
    for (name, rate_name, list, op, storage) in IO {
        let read = |stats: &ContainerStats| {
            stats
                .storage_stats
                .as_ref()
                .and_then(storage)
                .or_else(|| Some(sum_op(stats.blkio_stats.as_ref().and_then(list)?, op)))
        };
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

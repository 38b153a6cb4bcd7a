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

use super::catalog::{
    DISK_READ_BYTES_PER_SEC, DISK_READ_BYTES_TOTAL, DISK_READ_IOPS_TOTAL,
    DISK_WRITTEN_BYTES_PER_SEC, DISK_WRITTEN_BYTES_TOTAL, DISK_WRITTEN_IOPS_TOTAL,
};
use super::{Definition, Measured, Metric, Tagger, add};
use crate::ecs::stats::{BlkioEntry, BlkioOp, BlkioStats, ContainerStats, StorageStats};

type BlkioList = fn(&BlkioStats) -> Option<&Vec<BlkioEntry>>;
type StorageField = fn(&StorageStats) -> Option<u64>;

/// (cumulative series, rate series, blkio list, op, Windows storage_stats field).
type IoRow = (
    &'static Definition,
    Option<&'static Definition>,
    BlkioList,
    BlkioOp,
    StorageField,
);

const IO: [IoRow; 4] = [
    (
        &DISK_READ_BYTES_TOTAL,
        Some(&DISK_READ_BYTES_PER_SEC),
        |b| b.io_service_bytes_recursive.as_ref(),
        BlkioOp::Read,
        |s| s.read_size_bytes,
    ),
    (
        &DISK_WRITTEN_BYTES_TOTAL,
        Some(&DISK_WRITTEN_BYTES_PER_SEC),
        |b| b.io_service_bytes_recursive.as_ref(),
        BlkioOp::Write,
        |s| s.write_size_bytes,
    ),
    (
        &DISK_READ_IOPS_TOTAL,
        None,
        |b| b.io_serviced_recursive.as_ref(),
        BlkioOp::Read,
        |s| s.read_count_normalized,
    ),
    (
        &DISK_WRITTEN_IOPS_TOTAL,
        None,
        |b| b.io_serviced_recursive.as_ref(),
        BlkioOp::Write,
        |s| s.write_count_normalized,
    ),
];

pub fn metrics(measured: &[Measured], tagger: &Tagger, out: &mut Vec<Metric>) {
    for (counter, rate_series, list, op, storage) in IO {
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
                out.push(Metric::int(counter, value, m.tags()));
            }
            let Some(rate_series) = rate_series else {
                continue;
            };
            // A counter that went backwards (restart) drops the rate.
            let delta = m.prev.and_then(read).and_then(|p| value.checked_sub(p));
            let Some(rate) = delta.zip(m.elapsed).map(|(d, s)| d as f64 / s) else {
                continue;
            };
            *total_rate.get_or_insert(0.0) += rate;
            if m.included {
                out.extend(Metric::derived(rate_series, rate, m.tags()));
            }
        }
        if let Some(total) = total {
            out.push(Metric::int(counter, total, tagger.task()));
        }
        if let (Some(rate_series), Some(rate)) = (rate_series, total_rate) {
            out.extend(Metric::derived(rate_series, rate, tagger.task()));
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

//! Processes: `pids_stats.current` per container, summed for the task (the Prometheus ECS
//! exporter's `num_procs`).

use super::catalog::PIDS;
use super::{Measured, Metric, Tagger, add};

pub fn metrics(measured: &[Measured], tagger: &Tagger, out: &mut Vec<Metric>) {
    let mut total = None;
    for m in measured {
        let Some(pids) = m.cur.pids_stats.as_ref().and_then(|p| p.current) else {
            continue;
        };
        add(&mut total, pids);
        if m.included {
            out.push(Metric::int(&PIDS, pids, m.tags()));
        }
    }
    if let Some(total) = total {
        out.push(Metric::int(&PIDS, total, tagger.task()));
    }
}

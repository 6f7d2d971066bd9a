//! Where a step's time went: a table by kernel kind, and a Chrome trace.

use crate::model::forward::StepTiming;
use std::fmt::Write;

/// The kind a kernel counts under in profiles.
pub fn kernel_kind(name: &str) -> &'static str {
    match name {
        "matvec" | "matmul" => "matmul",
        "attention" => "attention",
        "rmsnorm" => "norm",
        _ => "other",
    }
}

/// GPU time by kernel kind and by kernel, then host time, as a text table.
pub fn profile_table(
    what: &str,
    timing: &StepTiming,
    tokens: usize,
    sampling_seconds: Option<f64>,
) -> String {
    let total: f64 = timing.kernels.iter().map(|k| k.duration_us).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{what} ({tokens} tokens): GPU time {:.3} ms in {} dispatches",
        total / 1e3,
        timing.kernels.len()
    );
    let mut group = |label: &str, key: &dyn Fn(&str) -> String| {
        let mut rows: Vec<(String, f64, usize)> = Vec::new();
        for k in &timing.kernels {
            let name = key(k.name);
            match rows.iter_mut().find(|(n, _, _)| *n == name) {
                Some(row) => {
                    row.1 += k.duration_us;
                    row.2 += 1;
                }
                None => rows.push((name, k.duration_us, 1)),
            }
        }
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        let _ = writeln!(
            out,
            "  {:<12} {:>10} {:>7} {:>10}",
            label, "ms", "%", "dispatches"
        );
        for (name, us, count) in rows {
            let _ = writeln!(
                out,
                "  {name:<12} {:>10.3} {:>6.1}% {count:>10}",
                us / 1e3,
                100.0 * us / total.max(1e-9)
            );
        }
    };
    group("kind", &|n| kernel_kind(n).to_string());
    group("kernel", &|n| n.to_string());
    let _ = write!(
        out,
        "  host: encode {:.3} ms, submit+wait {:.3} ms, readback {:.3} ms",
        timing.encode_seconds * 1e3,
        timing.gpu_wait_seconds * 1e3,
        timing.readback_seconds * 1e3
    );
    if let Some(s) = sampling_seconds {
        let _ = write!(out, ", sampling {:.3} ms", s * 1e3);
    }
    out.push('\n');
    out
}

/// A Chrome trace (chrome://tracing, Perfetto) of the steps: one track per step, one slice
/// per dispatch, at its GPU start time and duration.
pub fn chrome_trace(steps: &[(&str, &StepTiming)]) -> serde_json::Value {
    let mut events = Vec::new();
    for (tid, (name, timing)) in steps.iter().enumerate() {
        events.push(serde_json::json!({
            "name": "thread_name", "ph": "M", "pid": 0, "tid": tid, "args": {"name": name},
        }));
        for k in &timing.kernels {
            events.push(serde_json::json!({
                "name": k.name, "cat": kernel_kind(k.name), "ph": "X", "pid": 0, "tid": tid,
                "ts": k.start_us, "dur": k.duration_us,
            }));
        }
    }
    serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" })
}

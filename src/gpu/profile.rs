//! GPU timestamps around each dispatch of a step (where the adapter has TIMESTAMP_QUERY).

use super::{buffer::read_buffer, Gpu};
use crate::error::{Error, Result};

/// Collects one (begin, end) timestamp pair per dispatch.
pub struct GpuProfile {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    capacity: u32,
    labels: Vec<&'static str>,
    period_ns: f64,
}

/// One dispatch's measured GPU time.
#[derive(Debug, Clone)]
pub struct KernelTime {
    pub name: &'static str,
    /// Start, relative to the first dispatch of the step, in microseconds.
    pub start_us: f64,
    pub duration_us: f64,
}

impl GpuProfile {
    /// Room for `dispatches` timed dispatches per step.
    pub fn new(gpu: &Gpu, dispatches: u32) -> Result<GpuProfile> {
        if !gpu.has_timestamps() {
            return Err(Error::device(format!(
                "{} has no TIMESTAMP_QUERY feature: per-kernel GPU times are not available",
                gpu.info.name
            )));
        }
        let capacity = dispatches.clamp(1, wgpu::QUERY_SET_MAX_QUERIES / 2);
        let query_set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: capacity * 2,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile resolve"),
            size: u64::from(capacity) * 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        Ok(GpuProfile {
            query_set,
            resolve,
            capacity,
            labels: Vec::new(),
            period_ns: f64::from(gpu.queue.get_timestamp_period()),
        })
    }

    /// The query set and indices for the next dispatch, or None when the set is full.
    pub(crate) fn next_writes(&mut self, name: &'static str) -> Option<(wgpu::QuerySet, u32, u32)> {
        let index = self.labels.len() as u32;
        if index >= self.capacity {
            return None;
        }
        self.labels.push(name);
        Some((self.query_set.clone(), 2 * index, 2 * index + 1))
    }

    pub(crate) fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        let used = self.labels.len() as u32 * 2;
        if used > 0 {
            encoder.resolve_query_set(&self.query_set, 0..used, &self.resolve, 0);
        }
    }

    /// The times of the step just submitted; clears the profile for the next step.
    pub fn take(&mut self, gpu: &Gpu) -> Result<Vec<KernelTime>> {
        let labels = std::mem::take(&mut self.labels);
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = read_buffer(gpu, &self.resolve, 0, labels.len() as u64 * 16)?;
        let stamps: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
        let origin = stamps[0];
        Ok(labels
            .iter()
            .enumerate()
            .map(|(i, &name)| {
                let (begin, end) = (stamps[2 * i], stamps[2 * i + 1]);
                KernelTime {
                    name,
                    start_us: begin.saturating_sub(origin) as f64 * self.period_ns / 1e3,
                    duration_us: end.saturating_sub(begin) as f64 * self.period_ns / 1e3,
                }
            })
            .collect())
    }
}

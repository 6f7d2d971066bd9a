//! The parameter arena: one uniform buffer holding the small parameter block of every
//! dispatch of a step, each in its own aligned slot.
//!
//! Bind groups point at their slot once, when they are built. Each step writes fresh
//! parameters (row counts, positions) into the host copy and uploads it with a single
//! `write_buffer` before the submission, so no buffer or bind group is created per token.

use super::Gpu;
use crate::error::{Error, Result};
use bytemuck::Pod;

/// The largest parameter block a kernel may have.
pub const MAX_PARAMS_BYTES: u64 = 256;

pub struct ParamArena {
    buffer: wgpu::Buffer,
    slot_bytes: u64,
    capacity: u32,
    used: u32,
    host: Vec<u8>,
}

impl ParamArena {
    /// An arena with room for `capacity` dispatches.
    pub fn new(gpu: &Gpu, capacity: u32) -> Result<ParamArena> {
        let alignment = u64::from(gpu.limits.min_uniform_buffer_offset_alignment);
        let slot_bytes = MAX_PARAMS_BYTES.div_ceil(alignment) * alignment;
        let size = slot_bytes * u64::from(capacity.max(1));
        let buffer = gpu.scoped("allocating the parameter arena", || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("parameter arena"),
                size,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(ParamArena {
            buffer,
            slot_bytes,
            capacity: capacity.max(1),
            used: 0,
            host: vec![0; size as usize],
        })
    }

    /// Reserves a slot for one dispatch site.
    pub fn allocate(&mut self) -> Result<u32> {
        if self.used >= self.capacity {
            return Err(Error::device(format!(
                "parameter arena full ({} slots): a step records more dispatches than planned",
                self.capacity
            )));
        }
        self.used += 1;
        Ok(self.used - 1)
    }

    /// The binding of `slot`, `bytes` long (rounded up to 16 as uniform blocks are).
    pub fn binding(&self, slot: u32, bytes: u64) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: u64::from(slot) * self.slot_bytes,
            size: std::num::NonZeroU64::new(bytes.div_ceil(16) * 16),
        })
    }

    /// Writes the parameters of `slot` into the host copy (uploaded by [`Self::upload`]).
    pub fn set<P: Pod>(&mut self, slot: u32, params: &P) {
        let bytes = bytemuck::bytes_of(params);
        debug_assert!(bytes.len() as u64 <= MAX_PARAMS_BYTES);
        let start = (u64::from(slot) * self.slot_bytes) as usize;
        self.host[start..start + bytes.len()].copy_from_slice(bytes);
    }

    /// Uploads every used slot; the next submission sees the new values.
    pub fn upload(&self, gpu: &Gpu) {
        let end = (u64::from(self.used) * self.slot_bytes) as usize;
        if end > 0 {
            gpu.queue.write_buffer(&self.buffer, 0, &self.host[..end]);
        }
    }
}

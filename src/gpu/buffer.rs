//! Storage buffers: creation within the adapter's limits, upload and readback.

use super::Gpu;
use crate::error::{Error, Result};
use bytemuck::Pod;
use std::sync::mpsc;

/// wgpu wants buffer sizes and copies in multiples of 4 bytes.
fn round_up_4(bytes: u64) -> u64 {
    bytes.div_ceil(4).max(1) * 4
}

/// A storage buffer that fits in one binding.
pub struct StorageBuffer {
    pub buffer: wgpu::Buffer,
    /// The size the caller asked for; the buffer may be up to 3 bytes larger.
    pub bytes: u64,
}

impl StorageBuffer {
    /// An uninitialised (zeroed by wgpu) storage buffer of `bytes`.
    pub fn new(gpu: &Gpu, label: &str, bytes: u64) -> Result<StorageBuffer> {
        Self::with_usage(gpu, label, bytes, wgpu::BufferUsages::empty())
    }

    /// A storage buffer that may also be bound with `extra` usages (a staged matmul input is
    /// written as storage and read as a uniform buffer).
    pub fn with_usage(
        gpu: &Gpu,
        label: &str,
        bytes: u64,
        extra: wgpu::BufferUsages,
    ) -> Result<StorageBuffer> {
        check_binding_size(gpu, label, bytes)?;
        let buffer = gpu.scoped(&format!("allocating {label} ({bytes} bytes)"), || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: round_up_4(bytes),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST
                    | extra,
                mapped_at_creation: false,
            })
        })?;
        Ok(StorageBuffer { buffer, bytes })
    }

    /// A storage buffer holding `data`, written through a mapping at creation (no staging copy).
    pub fn from_slice<T: Pod>(gpu: &Gpu, label: &str, data: &[T]) -> Result<StorageBuffer> {
        Self::from_slice_with_usage(gpu, label, data, wgpu::BufferUsages::empty())
    }

    /// The same, for a buffer that may also be bound with `extra` usages.
    pub fn from_slice_with_usage<T: Pod>(
        gpu: &Gpu,
        label: &str,
        data: &[T],
        extra: wgpu::BufferUsages,
    ) -> Result<StorageBuffer> {
        Self::from_bytes_with_usage(gpu, label, bytemuck::cast_slice(data), extra)
    }

    pub fn from_bytes(gpu: &Gpu, label: &str, bytes: &[u8]) -> Result<StorageBuffer> {
        Self::from_bytes_with_usage(gpu, label, bytes, wgpu::BufferUsages::empty())
    }

    fn from_bytes_with_usage(
        gpu: &Gpu,
        label: &str,
        bytes: &[u8],
        extra: wgpu::BufferUsages,
    ) -> Result<StorageBuffer> {
        let size = bytes.len() as u64;
        check_binding_size(gpu, label, size)?;
        let buffer = gpu.scoped(&format!("allocating {label} ({size} bytes)"), || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: round_up_4(size),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST
                    | extra,
                mapped_at_creation: true,
            })
        })?;
        {
            let mut view = buffer
                .get_mapped_range_mut(..)
                .map_err(|e| Error::device(format!("mapping {label} for upload: {e}")))?;
            view.slice(..bytes.len()).copy_from_slice(bytes);
        }
        buffer.unmap();
        Ok(StorageBuffer {
            buffer,
            bytes: size,
        })
    }

    /// Overwrites the start of the buffer with `data` (ordered before the next submission).
    pub fn write<T: Pod>(&self, gpu: &Gpu, data: &[T]) {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.len().is_multiple_of(4) {
            gpu.queue.write_buffer(&self.buffer, 0, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(round_up_4(bytes.len() as u64) as usize, 0);
            gpu.queue.write_buffer(&self.buffer, 0, &padded);
        }
    }

    /// Fills the whole buffer with `value`: tests poison outputs with NaN this way.
    pub fn fill_f32(&self, gpu: &Gpu, value: f32) {
        let n = (self.buffer.size() / 4) as usize;
        gpu.queue
            .write_buffer(&self.buffer, 0, bytemuck::cast_slice(&vec![value; n]));
    }

    /// Reads the buffer back as f32 values (waits for all submitted work).
    pub fn read_f32(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        let bytes = read_buffer(gpu, &self.buffer, 0, self.bytes / 4 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    pub fn read_u32(&self, gpu: &Gpu) -> Result<Vec<u32>> {
        let bytes = read_buffer(gpu, &self.buffer, 0, self.bytes / 4 * 4)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The whole buffer as a binding resource.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        self.buffer.as_entire_binding()
    }
}

fn check_binding_size(gpu: &Gpu, label: &str, bytes: u64) -> Result<()> {
    let max = gpu.max_binding_bytes();
    if bytes > max {
        return Err(Error::device(format!(
            "{label}: {bytes} bytes exceed the adapter's largest storage binding ({max} bytes); \
             it must be split into shards"
        )));
    }
    Ok(())
}

/// A staging buffer kept for repeated readbacks of the same size (the logits of each step),
/// so that no buffer is created per token.
pub struct Readback {
    staging: wgpu::Buffer,
    bytes: u64,
}

impl Readback {
    pub fn new(gpu: &Gpu, label: &str, bytes: u64) -> Result<Readback> {
        let staging = gpu.scoped(&format!("allocating readback buffer {label}"), || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: round_up_4(bytes),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        Ok(Readback { staging, bytes })
    }

    /// Records the copy of `bytes` of `source` starting at `offset` into the staging buffer.
    pub fn record_copy(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        source: &wgpu::Buffer,
        offset: u64,
    ) {
        encoder.copy_buffer_to_buffer(source, offset, &self.staging, 0, round_up_4(self.bytes));
    }

    /// Maps the staging buffer after the copy was submitted and returns its contents.
    pub fn read_f32(&self, gpu: &Gpu, operation: &str) -> Result<Vec<f32>> {
        let bytes = map_and_copy(gpu, &self.staging, self.bytes, operation)?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

/// Copies `bytes` of `buffer` from `offset` into host memory (waits for the GPU).
pub fn read_buffer(gpu: &Gpu, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
    let staging = gpu.scoped("allocating a readback buffer", || {
        gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: round_up_4(bytes),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })?;
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, round_up_4(bytes));
    gpu.queue.submit([encoder.finish()]);
    map_and_copy(gpu, &staging, bytes, "reading a buffer back")
}

fn map_and_copy(gpu: &Gpu, staging: &wgpu::Buffer, bytes: u64, operation: &str) -> Result<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |result| {
        let _ = sender.send(result);
    });
    gpu.wait(None, operation)?;
    match receiver.recv_timeout(gpu.timeout()) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Error::device(format!("{operation}: mapping failed: {e}"))),
        Err(_) => {
            return Err(Error::device(format!(
                "{operation}: the buffer was not mapped within the GPU timeout"
            )))
        }
    }
    let data = {
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| Error::device(format!("{operation}: {e}")))?;
        view[..bytes as usize].to_vec()
    };
    staging.unmap();
    Ok(data)
}

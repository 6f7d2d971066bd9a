//! Rgba32Uint textures read as one long run of 16-byte texels: texel i sits at
//! (i % width, i / width). Weights and the KV cache live in them, because texture loads
//! are the fast path for per-invocation gathers on CPU-type adapters (lavapipe scalarises
//! storage-buffer loads) and go through the texture cache on GPUs. Kernels bind them as
//! storage textures: read-only ones for reading (cheaper than a sampled fetch on lavapipe),
//! write-only ones for the KV-cache writes.

use super::{buffer::read_buffer, Gpu, Recorder};
use crate::error::{Error, Result};
use std::sync::Arc;

pub struct TexelTexture {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub texels: u64,
}

impl TexelTexture {
    /// The widest texel texture: the largest power of two the adapter allows, at most 4096
    /// (shaders divide by it). The KV cache uses it; weights may be narrower (see
    /// `GpuMatrix::texture_width_for`).
    pub fn width(gpu: &Gpu) -> u32 {
        let max = gpu.limits.max_texture_dimension_2d.clamp(1, 4096);
        1 << (31 - max.leading_zeros())
    }

    /// A zeroed texture of at least `texels`, `width` wide.
    pub fn new(gpu: &Gpu, label: &str, texels: u64, width: u32) -> Result<TexelTexture> {
        let height = texels.div_ceil(u64::from(width)).max(1);
        let max = u64::from(gpu.limits.max_texture_dimension_2d);
        if height > max {
            return Err(Error::device(format!(
                "{label}: {texels} texels need a texture {height} rows tall, over the adapter's {max}"
            )));
        }
        let texture = gpu.scoped(&format!("allocating {label}"), || {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width,
                    height: height as u32,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba32Uint,
                usage: wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::COPY_DST
                    | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            })
        })?;
        let view = texture.create_view(&Default::default());
        Ok(TexelTexture {
            texture,
            view,
            texels,
        })
    }

    /// A texture holding `texels`.
    pub fn upload(gpu: &Gpu, label: &str, texels: &[[u32; 4]], width: u32) -> Result<TexelTexture> {
        let this = Self::new(gpu, label, texels.len() as u64, width)?;
        // Whole texture rows; the last one padded with zeros.
        let row_texels = width as usize;
        let full_rows = texels.len() / row_texels;
        if full_rows > 0 {
            this.write_rows(gpu, 0, &texels[..full_rows * row_texels]);
        }
        if full_rows * row_texels < texels.len() {
            let mut last = texels[full_rows * row_texels..].to_vec();
            last.resize(row_texels, [0; 4]);
            this.write_rows(gpu, full_rows as u32, &last);
        }
        Ok(this)
    }

    fn write_rows(&self, gpu: &Gpu, first_row: u32, texels: &[[u32; 4]]) {
        let width = self.texture.width();
        gpu.queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &self.texture,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: 0,
                    y: first_row,
                    z: 0,
                },
                aspect: wgpu::TextureAspect::All,
            },
            bytemuck::cast_slice(texels),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(width * 16),
                rows_per_image: None,
            },
            wgpu::Extent3d {
                width,
                height: texels.len() as u32 / width,
                depth_or_array_layers: 1,
            },
        );
    }

    /// Records a copy of the first `texels` texels (16 bytes each) of `buffer` into the
    /// first texels of this texture: whole texture rows, then the rest of the last one.
    fn copy_from(&self, encoder: &mut wgpu::CommandEncoder, buffer: &wgpu::Buffer, texels: u64) {
        let width = u64::from(self.texture.width());
        let full_rows = texels / width;
        let rest = texels % width;
        // Row `row` on, `rows` rows of `texels_per_row` (a single row needs no stride, and
        // a partial one could not give an aligned one).
        let mut copy = |row: u64, texels_per_row: u64, rows: u64| {
            encoder.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: row * width * 16,
                        bytes_per_row: (rows > 1).then_some(width as u32 * 16),
                        rows_per_image: None,
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture: &self.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: 0,
                        y: row as u32,
                        z: 0,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::Extent3d {
                    width: texels_per_row as u32,
                    height: rows as u32,
                    depth_or_array_layers: 1,
                },
            );
        };
        if full_rows > 0 {
            copy(0, width, full_rows);
        }
        if rest > 0 {
            copy(full_rows, rest, 1);
        }
    }

    /// The first `texels` texels, read back (for tests and debugging).
    pub fn read(&self, gpu: &Gpu) -> Result<Vec<[u32; 4]>> {
        let size = self.texture.size();
        let bytes = u64::from(size.width) * u64::from(size.height) * 16;
        let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("texture readback"),
            size: bytes,
            usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        encoder.copy_texture_to_buffer(
            self.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(size.width * 16),
                    rows_per_image: None,
                },
            },
            size,
        );
        gpu.submit_and_wait(encoder, "copying a texture")?;
        let data = read_buffer(gpu, &buffer, 0, bytes)?;
        let mut texels: Vec<[u32; 4]> = bytemuck::pod_collect_to_vec(&data);
        texels.truncate(self.texels as usize);
        Ok(texels)
    }

    /// Bytes of GPU memory the texture holds (whole rows).
    pub fn bytes(&self) -> u64 {
        let size = self.texture.size();
        u64::from(size.width) * u64::from(size.height) * 16
    }
}

/// The binding of a texel copy in the kernels that read one in place of a buffer (the
/// per-query attention, the KV-cache write).
pub const COPY_BINDING: u32 = 10;

/// A buffer and the texel texture kernels read it from (`Gpu::texel_copy`: one texture per
/// buffer and width, shared by every kernel that copies that buffer). On CPU-type adapters a
/// gather from a texture costs a fraction of a storage load at per-lane addresses.
#[derive(Clone)]
pub struct TexelCopy {
    pub texture: Arc<TexelTexture>,
    source: wgpu::Buffer,
}

impl TexelCopy {
    pub(super) fn new(texture: Arc<TexelTexture>, source: &wgpu::Buffer) -> TexelCopy {
        TexelCopy {
            texture,
            source: source.clone(),
        }
    }

    /// The texture as a binding resource.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::TextureView(&self.texture.view)
    }

    /// `resources` with the buffer at `binding` replaced by this copy at binding
    /// [`COPY_BINDING`], for a kernel entry point that reads the copy instead.
    pub fn in_place_of<'a>(
        &'a self,
        binding: u32,
        resources: &[(u32, wgpu::BindingResource<'a>)],
    ) -> Vec<(u32, wgpu::BindingResource<'a>)> {
        std::iter::once((COPY_BINDING, self.binding()))
            .chain(resources.iter().filter(|(b, _)| *b != binding).cloned())
            .collect()
    }

    /// What a shader reading the copy needs before its reader: TEXTURE_WIDTH (this
    /// texture's) and formats.wgsl's `texel_at`.
    pub fn reader_preamble(&self) -> String {
        format!(
            "const TEXTURE_WIDTH: u32 = {}u;\n{}",
            self.texture.texture.width(),
            crate::shader!("formats").wgsl
        )
    }

    /// Records the copy of the buffer's first `texels` texels, before the dispatch that
    /// reads them.
    pub fn record(&self, rec: &mut Recorder<'_>, texels: u64) {
        self.texture.copy_from(rec.encoder(), &self.source, texels);
    }
}

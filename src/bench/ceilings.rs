//! What the adapter can do at best, measured: streaming read bandwidth and arithmetic rate.
//! Benchmarks set their figures against these (rooflines), measured in the same run.

use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder, StorageBuffer, TexelTexture};
use crate::shader;
use std::time::Instant;

const WG: u32 = 64;

#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Ceilings {
    /// Bytes per second read by a kernel from a texel texture (how weights are read).
    pub texture_read_bytes_per_s: f64,
    /// Bytes per second read by a kernel from a storage buffer.
    pub buffer_read_bytes_per_s: f64,
    /// Floating-point operations per second (an FMA counts as two).
    pub flops: f64,
}

impl Ceilings {
    /// The better of the two read paths.
    pub fn read_bytes_per_s(&self) -> f64 {
        self.texture_read_bytes_per_s
            .max(self.buffer_read_bytes_per_s)
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReadParams {
    texels: u32,
    invocations: u32,
}

/// Runs `record` once to warm up, then `reps` times, and returns the best seconds per run.
fn best_of(
    gpu: &Gpu,
    arena: &mut ParamArena,
    reps: usize,
    mut record: impl FnMut(&mut Recorder<'_>),
) -> Result<f64> {
    let mut best = f64::INFINITY;
    for rep in 0..=reps {
        let start = Instant::now();
        let mut rec = Recorder::new(gpu, arena, None);
        record(&mut rec);
        rec.submit("benchmark")?;
        if rep > 0 {
            best = best.min(start.elapsed().as_secs_f64());
        }
    }
    Ok(best)
}

/// Measures the ceilings with `bytes` of data (at least a few times the last-level cache).
pub fn measure(gpu: &Gpu, bytes: u64) -> Result<Ceilings> {
    let width = TexelTexture::width(gpu);
    let max_texels = u64::from(width) * u64::from(gpu.limits.max_texture_dimension_2d);
    let texels = (bytes / 16)
        .min(max_texels)
        .min(gpu.max_binding_bytes() / 16) as u32;
    let data: Vec<[u32; 4]> = (0..texels)
        .map(|i| [i, i ^ 0x5555, i.rotate_left(7), !i])
        .collect();
    let texture = TexelTexture::upload(gpu, "bandwidth texture", &data, width)?;
    let buffer = StorageBuffer::from_slice(gpu, "bandwidth buffer", &data)?;
    drop(data);
    // Enough invocations to fill any adapter, few enough that each streams a long run.
    let invocations = (texels / 64).clamp(WG, 1 << 16) / WG * WG;
    let sink = StorageBuffer::new(gpu, "sink", u64::from(invocations.max(1 << 16)) * 4)?;

    let mut arena = ParamArena::new(gpu, 4)?;
    let preamble = format!("const TEXTURE_WIDTH: u32 = {width}u;\nconst WG: u32 = {WG}u;\n");
    let bytes_read = f64::from(texels) * 16.0;
    let params = ReadParams {
        texels,
        invocations,
    };
    let groups = [invocations / WG, 1, 1];
    let mut read =
        |entry: &str, resource: wgpu::BindingResource<'_>, binding: u32| -> Result<f64> {
            let pipeline = gpu.pipeline(&shader!("bench_read"), &preamble, entry)?;
            let resources = [(binding, resource), (3, sink.binding())];
            let bound = Bound::new(
                gpu,
                &mut arena,
                &pipeline,
                "bandwidth",
                std::mem::size_of::<ReadParams>(),
                &resources,
            )?;
            let seconds = best_of(gpu, &mut arena, 3, |rec| {
                rec.dispatch(&bound, &params, groups)
            })?;
            Ok(bytes_read / seconds)
        };
    let texture_read_bytes_per_s = read(
        "texture_read",
        wgpu::BindingResource::TextureView(&texture.view),
        1,
    )?;
    let buffer_read_bytes_per_s = read("buffer_read", buffer.binding(), 2)?;

    // Arithmetic: long enough that launch costs vanish.
    let pipeline = gpu.pipeline(
        &shader!("bench_fma"),
        &format!("const WG: u32 = {WG}u;\n"),
        "main",
    )?;
    let fma_invocations: u32 = 1 << 14;
    let iterations: u32 = if gpu.is_software() { 2_000 } else { 200_000 };
    let bound = Bound::new(gpu, &mut arena, &pipeline, "fma", 4, &[(1, sink.binding())])?;
    let seconds = best_of(gpu, &mut arena, 3, |rec| {
        rec.dispatch(&bound, &iterations, [fma_invocations / WG, 1, 1])
    })?;
    let flops = f64::from(fma_invocations) * f64::from(iterations) * 64.0 / seconds;

    Ok(Ceilings {
        texture_read_bytes_per_s,
        buffer_read_bytes_per_s,
        flops,
    })
}

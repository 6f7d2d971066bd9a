//! Shaders, and kernels bound to their buffers.

use super::{Gpu, ParamArena};
use crate::error::Result;

/// A WGSL file from `shaders/`. The Rust owner may prepend `const` lines (a preamble) that
/// specialise it: tile sizes, rows per invocation, the packing of its arrays.
pub struct ShaderSource {
    pub name: &'static str,
    pub wgsl: &'static str,
}

/// `shader!("rope")` embeds `shaders/rope.wgsl`.
#[macro_export]
macro_rules! shader {
    ($name:literal) => {
        $crate::gpu::ShaderSource {
            name: $name,
            wgsl: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/",
                $name,
                ".wgsl"
            )),
        }
    };
}

/// A pipeline bound once to its resources, with its own slot in the parameter arena.
/// Binding 0 of every kernel is its parameter block.
#[derive(Clone)]
pub struct Bound {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    slot: u32,
    /// The operation's name, used by profiles.
    pub name: &'static str,
}

impl Bound {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        pipeline: &wgpu::ComputePipeline,
        name: &'static str,
        params_bytes: usize,
        resources: &[(u32, wgpu::BindingResource<'_>)],
    ) -> Result<Bound> {
        let slot = arena.allocate()?;
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: arena.binding(slot, params_bytes as u64),
        }];
        for (binding, resource) in resources {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: resource.clone(),
            });
        }
        let bind_group = gpu.scoped(&format!("binding the buffers of {name}"), || {
            gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(name),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            })
        })?;
        Ok(Bound {
            pipeline: pipeline.clone(),
            bind_group,
            slot,
            name,
        })
    }

    /// Its slot in the parameter arena.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Records the dispatch into `pass` (the parameters are set by the recorder).
    pub(crate) fn record(&self, pass: &mut wgpu::ComputePass<'_>, workgroups: [u32; 3]) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
    }
}

/// Lays `count` workgroups out as x * y with x within the adapter's per-dimension limit.
/// Shaders recover the flat index as `wid.x + wid.y * num_workgroups.x` and skip those
/// past the end.
pub fn grid(gpu: &Gpu, count: u32) -> [u32; 3] {
    let max = gpu.limits.max_compute_workgroups_per_dimension.max(1);
    if count <= max {
        [count, 1, 1]
    } else {
        let y = count.div_ceil(max);
        [count.div_ceil(y), y, 1]
    }
}

/// Binds buffers to bindings 1, 2, ... in order (the common case).
pub fn buffers<'a>(list: &[&'a wgpu::Buffer]) -> Vec<(u32, wgpu::BindingResource<'a>)> {
    list.iter()
        .enumerate()
        .map(|(i, b)| (i as u32 + 1, b.as_entire_binding()))
        .collect()
}

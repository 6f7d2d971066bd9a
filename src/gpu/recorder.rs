//! Recording a step: dispatches go into one compute pass (or, when profiling, one pass per
//! dispatch with timestamps around it), parameters into the arena, and the whole step is
//! submitted once.

use super::profile::GpuProfile;
use super::{Bound, Gpu, ParamArena};
use crate::error::Result;
use bytemuck::Pod;

pub struct Recorder<'a> {
    pub gpu: &'a Gpu,
    arena: &'a mut ParamArena,
    encoder: wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
    profile: Option<&'a mut GpuProfile>,
}

impl<'a> Recorder<'a> {
    pub fn new(
        gpu: &'a Gpu,
        arena: &'a mut ParamArena,
        profile: Option<&'a mut GpuProfile>,
    ) -> Recorder<'a> {
        let encoder = gpu.device.create_command_encoder(&Default::default());
        Recorder {
            gpu,
            arena,
            encoder,
            pass: None,
            profile,
        }
    }

    /// Records `bound` with `params` over `workgroups` (nothing when any count is zero).
    pub fn dispatch<P: Pod>(&mut self, bound: &Bound, params: &P, workgroups: [u32; 3]) {
        self.arena.set(bound.slot(), params);
        if workgroups.contains(&0) {
            return;
        }
        match self
            .profile
            .as_deref_mut()
            .and_then(|p| p.next_writes(bound.name))
        {
            Some((query_set, begin, end)) => {
                // Profiling: a pass of its own, timestamped at its start and end.
                self.pass = None;
                let mut pass = self
                    .encoder
                    .begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(bound.name),
                        timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                            query_set: &query_set,
                            beginning_of_pass_write_index: Some(begin),
                            end_of_pass_write_index: Some(end),
                        }),
                    });
                bound.record(&mut pass, workgroups);
            }
            None => {
                let encoder = &mut self.encoder;
                let pass = self.pass.get_or_insert_with(|| {
                    encoder
                        .begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some("step"),
                            timestamp_writes: None,
                        })
                        .forget_lifetime()
                });
                bound.record(pass, workgroups);
            }
        }
    }

    /// The command encoder, for copies; ends the open compute pass first.
    pub fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        &mut self.encoder
    }

    /// Uploads the parameters, submits everything recorded and waits for the GPU.
    pub fn submit(mut self, operation: &str) -> Result<()> {
        self.pass = None;
        if let Some(profile) = self.profile.as_deref_mut() {
            profile.resolve(&mut self.encoder);
        }
        self.arena.upload(self.gpu);
        self.gpu.submit_and_wait(self.encoder, operation)
    }
}

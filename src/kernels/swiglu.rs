//! Owner of `shaders/swiglu.wgsl`: silu(gate) * up, written staged for the down projection.

use super::staging::{StageWriter, StagedLayout};
use crate::error::Result;
use crate::gpu::{Bound, Gpu, ParamArena, Recorder, StorageBuffer, TexelCopy, TexelTexture};
use crate::shader;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n_tokens: u32,
    cols: u32,
}

/// Where the kernel reads gate_up from (shaders/swiglu_input_*.wgsl).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwiGluInput {
    /// The storage buffer the gate/up product wrote: the cheaper read on GPUs.
    Storage,
    /// For steps of several tokens, a copy of it in a texel texture made before each
    /// dispatch, for CPU-type adapters: there a load at a different address per lane is a
    /// vector gather from a texture but a loop over the lanes from a storage buffer
    /// (lavapipe, SmolLM2's 24-token step: 0.54 -> 0.33 ms). A decode step reads the
    /// buffer: for one token the copy costs more than it saves (0.045 vs 0.065 ms).
    Texture,
}

impl SwiGluInput {
    /// The adapter's better reader: the texture on a CPU-type adapter where rows of `cols`
    /// fill whole texels, storage elsewhere.
    pub fn for_gpu(gpu: &Gpu, cols: u32) -> SwiGluInput {
        if gpu.is_software() && Self::texels_fit(cols) {
            SwiGluInput::Texture
        } else {
            SwiGluInput::Storage
        }
    }

    /// Every reader rows of `cols` allow (tests check each).
    pub fn available(cols: u32) -> Vec<SwiGluInput> {
        let mut all = vec![SwiGluInput::Storage];
        if Self::texels_fit(cols) {
            all.push(SwiGluInput::Texture);
        }
        all
    }

    /// The texture reader takes gate and up values four to a texel.
    fn texels_fit(cols: u32) -> bool {
        cols.is_multiple_of(4)
    }
}

/// `staged[t, j] = silu(gate_up[t, j]) * gate_up[t, cols + j]` for j < cols.
pub struct SwiGlu {
    /// The kernel reading the buffer.
    storage: Bound,
    /// With `SwiGluInput::Texture`: the kernel reading the copy, and the copy.
    texture: Option<(Bound, TexelCopy)>,
    layout: StagedLayout,
    writer: StageWriter,
}

impl SwiGlu {
    pub fn new(
        gpu: &Gpu,
        arena: &mut ParamArena,
        gate_up: &wgpu::Buffer,
        staged: &StorageBuffer,
        layout: StagedLayout,
        writer: StageWriter,
        input: SwiGluInput,
    ) -> Result<SwiGlu> {
        let reader = shader!("swiglu_input_storage").wgsl;
        let storage = Self::bind(
            gpu,
            arena,
            reader,
            gate_up.as_entire_binding(),
            staged,
            layout,
            writer,
        )?;
        let texture = match input {
            SwiGluInput::Storage => None,
            SwiGluInput::Texture => {
                let copy = gpu.texel_copy("gate_up texels", gate_up, TexelTexture::width(gpu))?;
                let reader = format!(
                    "{}{}",
                    copy.reader_preamble(),
                    shader!("swiglu_input_texture").wgsl
                );
                let bound =
                    Self::bind(gpu, arena, &reader, copy.binding(), staged, layout, writer)?;
                Some((bound, copy))
            }
        };
        Ok(SwiGlu {
            storage,
            texture,
            layout,
            writer,
        })
    }

    /// The kernel with `reader` (a swiglu_input_*.wgsl) bound to `input` and `staged`.
    fn bind(
        gpu: &Gpu,
        arena: &mut ParamArena,
        reader: &str,
        input: wgpu::BindingResource<'_>,
        staged: &StorageBuffer,
        layout: StagedLayout,
        writer: StageWriter,
    ) -> Result<Bound> {
        let preamble = format!(
            "const WG: u32 = {}u;\n{}{reader}",
            writer.workgroup_size(),
            layout.producer_preamble(writer)
        );
        let pipeline = gpu.pipeline(&shader!("swiglu"), &preamble, "main")?;
        Bound::new(
            gpu,
            arena,
            &pipeline,
            "swiglu",
            std::mem::size_of::<Params>(),
            &[(1, input), (9, staged.binding())],
        )
    }

    pub fn encode(&self, rec: &mut Recorder<'_>, n_tokens: u32) {
        let bound = match &self.texture {
            Some((bound, copy)) if n_tokens > 1 => {
                copy.record(
                    rec,
                    u64::from(n_tokens) * u64::from(2 * self.layout.cols) / 4,
                );
                bound
            }
            _ => &self.storage,
        };
        let params = Params {
            n_tokens,
            cols: self.layout.cols,
        };
        let groups = self.writer.workgroups(rec.gpu, &self.layout, n_tokens);
        rec.dispatch(bound, &params, groups);
    }
}

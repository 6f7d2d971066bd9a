//! The device layer: adapter choice, the device and queue, buffers, pipelines and the
//! per-dispatch parameter arena. Nothing in here knows what a model is.

pub mod adapter;
pub mod buffer;
pub mod kernel;
pub mod params;
pub mod profile;
pub mod recorder;
pub mod texture;

pub use adapter::{AdapterChoice, BackendChoice};
pub use buffer::{read_buffer, StorageBuffer};
pub use kernel::{Bound, ShaderSource};
pub use params::ParamArena;
pub use profile::GpuProfile;
pub use recorder::Recorder;
pub use texture::{TexelCopy, TexelTexture};

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Optional features the kernels can use when the adapter has them.
const WANTED_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
    .union(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);

/// How long any single wait on the GPU may take before it is reported as an error.
/// `SHADERLM_GPU_TIMEOUT` (seconds) overrides it, for very slow adapters.
fn gpu_timeout() -> Duration {
    std::env::var("SHADERLM_GPU_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(300))
}

/// Which adapter to open.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    pub backend: BackendChoice,
    pub adapter: Option<AdapterChoice>,
    /// Print the chosen adapter (and a note when it is the software one) on stderr.
    pub verbose: bool,
}

/// An opened adapter: device, queue, what it can do, and the errors it reported.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// Device memory the adapter reports (its largest device-local heap), where the
    /// backend tells; `SHADERLM_GPU_MEMORY` (bytes, or with a K, M or G suffix) overrides it.
    pub memory: Option<u64>,
    /// Errors raised outside any error scope (validation, out of memory), oldest first.
    uncaptured: Arc<Mutex<Vec<String>>>,
    /// Set when the device is lost.
    lost: Arc<Mutex<Option<String>>>,
    /// Compiled pipelines keyed by shader name and preamble: each is compiled once.
    pipelines: Mutex<HashMap<String, wgpu::ComputePipeline>>,
    /// A 16-byte buffer bound where a kernel's optional input (a bias) is absent.
    dummy: wgpu::Buffer,
    timeout: Duration,
    /// Texel-texture copies of buffers (see [`Gpu::texel_copy`]), one per buffer and width,
    /// alive while a kernel holds them; an entry's buffer handle goes at the first call
    /// after its texture has.
    texel_copies: Mutex<Vec<(wgpu::Buffer, u32, Weak<TexelTexture>)>>,
}

/// Every adapter the chosen backends expose, in the order `--adapter INDEX` counts them.
pub fn enumerate_adapters(backend: BackendChoice) -> Vec<wgpu::Adapter> {
    let instance = new_instance(backend);
    pollster::block_on(instance.enumerate_adapters(backend.backends()))
}

fn new_instance(backend: BackendChoice) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backend.backends();
    desc.flags = wgpu::InstanceFlags::from_build_config().with_env();
    wgpu::Instance::new(desc)
}

impl Gpu {
    /// Opens the adapter chosen by `options`: the best hardware adapter, else the software one.
    pub fn new(options: &GpuOptions) -> Result<Gpu> {
        let adapters = enumerate_adapters(options.backend);
        let infos: Vec<wgpu::AdapterInfo> = adapters.iter().map(|a| a.get_info()).collect();
        if infos.is_empty() {
            return Err(Error::device(format!(
                "no GPU adapter found (backends tried: {}; --backend {})",
                tried_backends(options.backend),
                options.backend
            )));
        }
        let index = adapter::choose_adapter(&infos, options.adapter.as_ref())?;
        let chosen = &adapters[index];
        let info = infos[index].clone();
        if options.verbose {
            eprintln!("adapter: {}", adapter::describe(&info));
            if info.device_type == wgpu::DeviceType::Cpu
                && options.adapter.is_none()
                && infos.iter().all(|i| i.device_type == wgpu::DeviceType::Cpu)
            {
                eprintln!("note: no hardware GPU adapter found; using the software adapter");
            }
        }
        Self::open(chosen, info)
    }

    fn open(adapter: &wgpu::Adapter, info: wgpu::AdapterInfo) -> Result<Gpu> {
        let memory = memory_override()?.or_else(|| device_memory(adapter));
        let limits = adapter.limits();
        let features = adapter.features() & WANTED_FEATURES;
        let desc = wgpu::DeviceDescriptor {
            label: Some("shaderlm"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| Error::device(format!("opening {}: {e}", info.name)))?;

        let uncaptured = Arc::new(Mutex::new(Vec::new()));
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            if let Ok(mut errors) = sink.lock() {
                errors.push(error.to_string());
            }
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut lost) = lost_sink.lock() {
                *lost = Some(format!("{reason:?}: {message}"));
            }
        });

        let dummy = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("absent input"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        Ok(Gpu {
            memory,
            dummy,
            limits: device.limits(),
            features: device.features(),
            device,
            queue,
            info,
            uncaptured,
            lost,
            pipelines: Mutex::new(HashMap::new()),
            timeout: gpu_timeout(),
            texel_copies: Mutex::new(Vec::new()),
        })
    }

    /// `buffer` with a texel texture, `width` wide, that a kernel copies it into
    /// ([`TexelCopy::record`]) before reading it through gathers. Kernels copying the same
    /// buffer share one texture: each copies right before its own dispatch, so every
    /// layer's SwiGLU, say, uses the one copy of the gate/up buffer.
    pub fn texel_copy(&self, label: &str, buffer: &wgpu::Buffer, width: u32) -> Result<TexelCopy> {
        let mut copies = self
            .texel_copies
            .lock()
            .map_err(|_| Error::device("the texel-copy cache is poisoned"))?;
        copies.retain(|(_, _, copy)| copy.strong_count() > 0);
        let found = copies
            .iter()
            .find(|(b, w, _)| b == buffer && *w == width)
            .and_then(|(_, _, copy)| copy.upgrade());
        if let Some(texture) = found {
            return Ok(TexelCopy::new(texture, buffer));
        }
        let texture = Arc::new(TexelTexture::new(self, label, buffer.size() / 16, width)?);
        copies.push((buffer.clone(), width, Arc::downgrade(&texture)));
        Ok(TexelCopy::new(texture, buffer))
    }

    /// Bytes of GPU memory the live texel copies hold.
    pub fn texel_copy_bytes(&self) -> u64 {
        self.texel_copies.lock().map_or(0, |copies| {
            copies
                .iter()
                .filter_map(|(_, _, copy)| copy.upgrade())
                .map(|copy| copy.bytes())
                .sum()
        })
    }

    pub fn has_subgroups(&self) -> bool {
        self.features.contains(wgpu::Features::SUBGROUP)
    }

    /// The subgroup size when the adapter has subgroup operations at a single, fixed size.
    pub fn fixed_subgroup_size(&self) -> Option<u32> {
        let (min, max) = (self.info.subgroup_min_size, self.info.subgroup_max_size);
        (self.has_subgroups() && min == max && min > 0 && min <= 128).then_some(min)
    }

    pub fn has_timestamps(&self) -> bool {
        self.features.contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The largest buffer range one storage binding may cover.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Turns errors the device reported since the last check into one error naming `operation`.
    pub fn check(&self, operation: &str) -> Result<()> {
        if let Some(reason) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(Error::device(format!(
                "{operation}: the GPU device was lost ({reason})"
            )));
        }
        let errors: Vec<String> = match self.uncaptured.lock() {
            Ok(mut errors) => errors.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        match errors.first() {
            None => Ok(()),
            Some(first) => Err(Error::device(format!(
                "{operation}: the GPU reported {} error(s); first: {first}",
                errors.len()
            ))),
        }
    }

    /// Runs `f` inside validation and out-of-memory error scopes, so that a failure becomes an
    /// error naming `operation` instead of a panic.
    pub fn scoped<T>(&self, operation: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let validation_error = pollster::block_on(validation.pop());
        let oom_error = pollster::block_on(oom.pop());
        if let Some(e) = oom_error {
            return Err(Error::device(format!(
                "{operation}: out of GPU memory: {e}"
            )));
        }
        if let Some(e) = validation_error {
            return Err(Error::device(format!("{operation}: {e}")));
        }
        Ok(value)
    }

    /// Submits `encoder` and waits until the GPU has finished it.
    pub fn submit_and_wait(&self, encoder: wgpu::CommandEncoder, operation: &str) -> Result<()> {
        let index = self.queue.submit([encoder.finish()]);
        self.wait(Some(index), operation)
    }

    /// Waits for `submission` (or everything submitted) with the GPU timeout.
    pub fn wait(&self, submission: Option<wgpu::SubmissionIndex>, operation: &str) -> Result<()> {
        let result = self.device.poll(wgpu::PollType::Wait {
            submission_index: submission,
            timeout: Some(self.timeout),
        });
        self.check(operation)?;
        match result {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(Error::device(format!(
                "{operation}: the GPU did not finish within {:.0} s (set SHADERLM_GPU_TIMEOUT to wait longer)",
                self.timeout.as_secs_f64()
            ))),
            Err(e) => Err(Error::device(format!("{operation}: {e}"))),
        }
    }

    /// The buffer to bind where an optional input is absent.
    pub fn dummy(&self) -> &wgpu::Buffer {
        &self.dummy
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes how long any wait on the GPU may take.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The compute pipeline of `entry` in `source` with `preamble` (WGSL that specialises
    /// it: constants and shared functions) prepended, compiled on first use and cached.
    pub fn pipeline(
        &self,
        source: &ShaderSource,
        preamble: &str,
        entry: &str,
    ) -> Result<wgpu::ComputePipeline> {
        let key = format!("{}:{entry}\n{}", source.name, preamble);
        if let Some(found) = self
            .pipelines
            .lock()
            .ok()
            .and_then(|p| p.get(&key).cloned())
        {
            return Ok(found);
        }
        let code = format!("{preamble}\n{}", source.wgsl);
        let pipeline = self.scoped(
            &format!("compiling shader {} ({entry})", source.name),
            || {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(source.name),
                    source: wgpu::ShaderSource::Wgsl(code.as_str().into()),
                };
                let module = self.device.create_shader_module(desc);
                self.device
                    .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                        label: Some(source.name),
                        layout: None,
                        module: &module,
                        entry_point: Some(entry),
                        compilation_options: wgpu::PipelineCompilationOptions {
                            constants: &[],
                            zero_initialize_workgroup_memory: false,
                        },
                        cache: None,
                    })
            },
        )?;
        if let Ok(mut pipelines) = self.pipelines.lock() {
            pipelines.insert(key, pipeline.clone());
        }
        Ok(pipeline)
    }
}

/// The largest device-local memory heap, on Vulkan (other backends do not say).
fn device_memory(adapter: &wgpu::Adapter) -> Option<u64> {
    // SAFETY: reads the physical device's memory properties; nothing of the hal adapter is
    // kept or modified.
    unsafe {
        let hal = adapter.as_hal::<wgpu::hal::api::Vulkan>()?;
        let instance = hal.shared_instance().raw_instance();
        let properties = instance.get_physical_device_memory_properties(hal.raw_physical_device());
        let count = (properties.memory_heap_count as usize).min(properties.memory_heaps.len());
        const DEVICE_LOCAL: u32 = 1;
        properties.memory_heaps[..count]
            .iter()
            .filter(|heap| heap.flags.as_raw() & DEVICE_LOCAL != 0)
            .map(|heap| heap.size)
            .max()
    }
}

/// `SHADERLM_GPU_MEMORY`: a byte count, or a number with a K, M or G suffix.
fn memory_override() -> Result<Option<u64>> {
    let Ok(text) = std::env::var("SHADERLM_GPU_MEMORY") else {
        return Ok(None);
    };
    let t = text.trim();
    let (digits, scale) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .map(Some)
        .ok_or_else(|| {
            Error::usage(format!(
                "SHADERLM_GPU_MEMORY={text}: expected a byte count such as 512M or 2G"
            ))
        })
}

fn tried_backends(choice: BackendChoice) -> String {
    let enabled = wgpu::Instance::enabled_backend_features() & choice.backends();
    let names: Vec<String> = enabled
        .iter_names()
        .map(|(name, _)| name.to_lowercase())
        .collect();
    if names.is_empty() {
        "none compiled into this build".into()
    } else {
        names.join(", ")
    }
}

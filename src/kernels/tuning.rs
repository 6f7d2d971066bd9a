//! Kernel variants chosen per adapter: a short measurement at first use, cached on disk per
//! adapter and driver, so a CPU-type adapter and a discrete GPU each get the shapes that
//! suit them. Every candidate is a tested variant (tests/kernels/matrix.rs runs them all).

use crate::error::Result;
use crate::gpu::Gpu;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The shape of the decode (one-token) matmul: invocations per workgroup, rows each
/// invocation computes, and invocations sharing a row (`lanes` > 1: the split decode of
/// shaders/matmul_split.wgsl, for GPUs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecodeVariant {
    pub workgroup: u32,
    pub rows: u32,
    pub lanes: u32,
}

impl DecodeVariant {
    /// What a CPU-type adapter runs best without measuring: one SIMD vector per workgroup.
    pub const DEFAULT: DecodeVariant = DecodeVariant {
        workgroup: 8,
        rows: 2,
        lanes: 1,
    };

    /// The candidates a measurement chooses from on `gpu`: the split shapes only on GPUs
    /// (on a CPU-type adapter a row per invocation is what keeps the loads vectorised, so
    /// measuring splits there would only lengthen the tuning).
    pub fn candidates(gpu: &Gpu) -> Vec<DecodeVariant> {
        let mut all = Self::whole_rows();
        if !gpu.is_software() {
            all.extend(Self::splits(gpu));
        }
        all
    }

    /// Every shape `gpu` can run (tests check each).
    pub fn all(gpu: &Gpu) -> Vec<DecodeVariant> {
        let mut all = Self::whole_rows();
        all.extend(Self::splits(gpu));
        all
    }

    fn whole_rows() -> Vec<DecodeVariant> {
        let mut all = Vec::new();
        for workgroup in [8, 32, 64] {
            for rows in [1, 2, 4] {
                all.push(DecodeVariant {
                    workgroup,
                    rows,
                    lanes: 1,
                });
            }
        }
        all
    }

    /// Split shapes: 8, 16 or 32 lanes of one subgroup per row, where subgroups hold them
    /// (none with `SHADERLM_PORTABLE=1`).
    fn splits(gpu: &Gpu) -> Vec<DecodeVariant> {
        if super::forced_portable() {
            return Vec::new();
        }
        let mut all = Vec::new();
        for lanes in [8, 16, 32] {
            for workgroup in [64, 256] {
                all.push(DecodeVariant {
                    workgroup,
                    rows: 1,
                    lanes,
                });
            }
        }
        all.retain(|v| v.runs_on(gpu));
        all
    }

    /// Whether `gpu` can run this shape: a split needs its lanes (a power of two dividing
    /// the workgroup) inside one subgroup.
    pub fn runs_on(&self, gpu: &Gpu) -> bool {
        self.lanes == 1
            || (gpu.has_subgroups()
                && self.lanes.is_power_of_two()
                && self.lanes <= gpu.info.subgroup_min_size
                && self.workgroup.is_multiple_of(self.lanes))
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Entry {
    variant: DecodeVariant,
    /// Microseconds per call the measurement found.
    micros: f64,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    adapter: String,
    /// A hash of the matmul shaders and the candidates the entries were measured with; a
    /// file from other kernels is measured again.
    #[serde(default)]
    kernels: String,
    entries: BTreeMap<String, Entry>,
}

pub struct Tuner {
    path: Option<PathBuf>,
    file: CacheFile,
    announced: bool,
}

/// What the cached measurements depend on besides the adapter.
fn kernels_version(gpu: &Gpu) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for source in [
        crate::shader!("matmul_common").wgsl,
        crate::shader!("formats").wgsl,
        crate::shader!("matmul_f32").wgsl,
        crate::shader!("matmul_f16").wgsl,
        crate::shader!("matmul_q8_0").wgsl,
        crate::shader!("matmul_q4_0").wgsl,
        crate::shader!("matmul_q4_1").wgsl,
        crate::shader!("matmul_int8_x").wgsl,
        crate::shader!("matmul_nibble_x").wgsl,
        crate::shader!("staged_x_pairs").wgsl,
        crate::shader!("subgroup/staged_x_pairs").wgsl,
        crate::shader!("matmul_split").wgsl,
        crate::shader!("staged_x").wgsl,
        crate::shader!("subgroup/staged_x").wgsl,
    ] {
        source.hash(&mut hasher);
    }
    format!("{:?}", DecodeVariant::candidates(gpu)).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

impl Tuner {
    /// A tuner that never measures (every kernel takes its default variant).
    pub fn disabled() -> Tuner {
        Tuner {
            path: None,
            file: CacheFile::default(),
            announced: false,
        }
    }

    /// The tuner for `gpu`, with what earlier runs measured (`SHADERLM_TUNE=0` disables it).
    pub fn for_gpu(gpu: &Gpu) -> Tuner {
        if std::env::var("SHADERLM_TUNE").is_ok_and(|v| v == "0") {
            return Self::disabled();
        }
        let info = &gpu.info;
        let adapter = format!(
            "{} {:?} {} {}",
            info.name, info.backend, info.driver, info.driver_info
        );
        let file_name: String = adapter
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = crate::model::fetch::cache_dir()
            .join("tuning")
            .join(format!("{file_name}.json"));
        let file = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str::<CacheFile>(&text).ok())
            .filter(|f| f.adapter == adapter && f.kernels == kernels_version(gpu))
            .unwrap_or(CacheFile {
                adapter,
                kernels: kernels_version(gpu),
                entries: BTreeMap::new(),
            });
        Tuner {
            path: Some(path),
            file,
            announced: false,
        }
    }

    /// The variant for `key`: cached, else the fastest of the candidates `measure` times
    /// (seconds per call, one per candidate, in order), else the default when disabled.
    pub fn decode_variant(
        &mut self,
        gpu: &Gpu,
        key: &str,
        measure: impl FnOnce(&[DecodeVariant]) -> Result<Vec<f64>>,
    ) -> Result<DecodeVariant> {
        if self.path.is_none() {
            return Ok(DecodeVariant::DEFAULT);
        }
        if let Some(entry) = self.file.entries.get(key) {
            return Ok(entry.variant);
        }
        if !self.announced {
            self.announced = true;
            if let Some(path) = &self.path {
                eprintln!(
                    "tuning kernels for this adapter (once; cached in {})",
                    path.display()
                );
            }
        }
        let candidates = DecodeVariant::candidates(gpu);
        let seconds = measure(&candidates)?;
        let entry = candidates
            .iter()
            .zip(&seconds)
            .map(|(&variant, &s)| Entry {
                variant,
                micros: s * 1e6,
            })
            .min_by(|a, b| a.micros.total_cmp(&b.micros))
            .unwrap_or(Entry {
                variant: DecodeVariant::DEFAULT,
                micros: 0.0,
            });
        let variant = entry.variant;
        self.file.entries.insert(key.to_string(), entry);
        self.save();
        Ok(variant)
    }

    /// Writes the cache; a failure only costs a new measurement next time.
    fn save(&self) {
        let Some(path) = &self.path else { return };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(text) = serde_json::to_string_pretty(&self.file) {
            let _ = std::fs::write(path, text);
        }
    }
}

//! Choosing an adapter: which backends to try, which adapter to take, and how to describe them.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The `--backend` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    #[default]
    Auto,
    Vulkan,
    Metal,
    Dx12,
    Gl,
}

impl BackendChoice {
    pub fn backends(self) -> wgpu::Backends {
        match self {
            BackendChoice::Auto => {
                wgpu::Backends::VULKAN
                    | wgpu::Backends::METAL
                    | wgpu::Backends::DX12
                    | wgpu::Backends::GL
            }
            BackendChoice::Vulkan => wgpu::Backends::VULKAN,
            BackendChoice::Metal => wgpu::Backends::METAL,
            BackendChoice::Dx12 => wgpu::Backends::DX12,
            BackendChoice::Gl => wgpu::Backends::GL,
        }
    }
}

impl FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "vulkan" | "vk" => Ok(BackendChoice::Vulkan),
            "metal" => Ok(BackendChoice::Metal),
            "dx12" | "d3d12" => Ok(BackendChoice::Dx12),
            "gl" | "gles" | "opengl" => Ok(BackendChoice::Gl),
            other => Err(Error::usage(format!(
                "--backend {other}: unknown backend (expected auto, vulkan, metal, dx12 or gl)"
            ))),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Vulkan => "vulkan",
            BackendChoice::Metal => "metal",
            BackendChoice::Dx12 => "dx12",
            BackendChoice::Gl => "gl",
        };
        f.write_str(name)
    }
}

/// The `--adapter` flag: an index into the listed adapters, or part of an adapter's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterChoice {
    Index(usize),
    NameContains(String),
}

impl FromStr for AdapterChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.trim().is_empty() {
            return Err(Error::usage(
                "--adapter: empty value (give an index or part of a name)",
            ));
        }
        Ok(match s.parse::<usize>() {
            Ok(index) => AdapterChoice::Index(index),
            Err(_) => AdapterChoice::NameContains(s.to_string()),
        })
    }
}

/// Preference order: discrete, then integrated, then virtual, then other, then software.
fn type_rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Among adapters of the same type, the native compute APIs come before GL.
fn backend_rank(backend: wgpu::Backend) -> u8 {
    match backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::Gl => 1,
        _ => 2,
    }
}

/// Index of the adapter to use among `infos`, following `choice` or the preference order.
pub fn choose_adapter(
    infos: &[wgpu::AdapterInfo],
    choice: Option<&AdapterChoice>,
) -> Result<usize> {
    match choice {
        Some(AdapterChoice::Index(index)) => {
            if *index < infos.len() {
                Ok(*index)
            } else {
                Err(Error::usage(format!(
                    "--adapter {index}: only {} adapter(s) found (indices 0..{}); run `shaderlm info` to list them",
                    infos.len(),
                    infos.len().saturating_sub(1)
                )))
            }
        }
        Some(AdapterChoice::NameContains(needle)) => {
            let needle_lower = needle.to_lowercase();
            infos
                .iter()
                .enumerate()
                .filter(|(_, info)| info.name.to_lowercase().contains(&needle_lower))
                .min_by_key(|(_, info)| (type_rank(info.device_type), backend_rank(info.backend)))
                .map(|(index, _)| index)
                .ok_or_else(|| {
                    let names: Vec<String> = infos.iter().map(|i| i.name.clone()).collect();
                    Error::usage(format!(
                        "--adapter {needle:?}: no adapter name contains it (found: {})",
                        names.join(", ")
                    ))
                })
        }
        None => infos
            .iter()
            .enumerate()
            .min_by_key(|(_, info)| (type_rank(info.device_type), backend_rank(info.backend)))
            .map(|(index, _)| index)
            .ok_or_else(|| Error::device("no GPU adapter found")),
    }
}

pub fn device_type_name(device_type: wgpu::DeviceType) -> &'static str {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software (CPU)",
        wgpu::DeviceType::Other => "other",
    }
}

/// One line describing an adapter: name, backend, type and driver.
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    let driver = match (info.driver.is_empty(), info.driver_info.is_empty()) {
        (true, true) => String::from("unknown driver"),
        (false, true) => info.driver.clone(),
        (true, false) => info.driver_info.clone(),
        (false, false) => format!("{} {}", info.driver, info.driver_info),
    };
    format!(
        "{} ({}, {}, {})",
        info.name,
        info.backend,
        device_type_name(info.device_type),
        driver
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        name: &str,
        device_type: wgpu::DeviceType,
        backend: wgpu::Backend,
    ) -> wgpu::AdapterInfo {
        let mut info = wgpu::AdapterInfo::new(device_type, backend);
        info.name = name.to_string();
        info
    }

    #[test]
    fn prefers_discrete_then_integrated_then_software() {
        let infos = vec![
            info("llvmpipe", wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan),
            info(
                "Intel Iris",
                wgpu::DeviceType::IntegratedGpu,
                wgpu::Backend::Vulkan,
            ),
            info("RTX", wgpu::DeviceType::DiscreteGpu, wgpu::Backend::Vulkan),
        ];
        assert_eq!(choose_adapter(&infos, None).unwrap(), 2);
        assert_eq!(choose_adapter(&infos[..2], None).unwrap(), 1);
        assert_eq!(choose_adapter(&infos[..1], None).unwrap(), 0);
    }

    #[test]
    fn prefers_vulkan_over_gl_for_the_same_type() {
        let infos = vec![
            info("llvmpipe", wgpu::DeviceType::Cpu, wgpu::Backend::Gl),
            info("llvmpipe", wgpu::DeviceType::Cpu, wgpu::Backend::Vulkan),
        ];
        assert_eq!(choose_adapter(&infos, None).unwrap(), 1);
    }

    #[test]
    fn adapter_flag_by_index_and_name() {
        let infos = vec![
            info(
                "llvmpipe (LLVM 15)",
                wgpu::DeviceType::Cpu,
                wgpu::Backend::Vulkan,
            ),
            info(
                "NVIDIA H200",
                wgpu::DeviceType::DiscreteGpu,
                wgpu::Backend::Vulkan,
            ),
        ];
        assert_eq!(
            choose_adapter(&infos, Some(&AdapterChoice::Index(0))).unwrap(),
            0
        );
        let by_name = AdapterChoice::NameContains("LLVMPIPE".into());
        assert_eq!(choose_adapter(&infos, Some(&by_name)).unwrap(), 0);
        let err = choose_adapter(&infos, Some(&AdapterChoice::Index(5))).unwrap_err();
        assert!(err.to_string().contains("--adapter 5"), "{err}");
        let missing = AdapterChoice::NameContains("radeon".into());
        let err = choose_adapter(&infos, Some(&missing)).unwrap_err();
        assert!(err.to_string().contains("radeon") && err.to_string().contains("llvmpipe"));
        assert!(choose_adapter(&[], None).is_err());
    }

    #[test]
    fn backend_flag_parses() {
        assert_eq!(
            "Vulkan".parse::<BackendChoice>().unwrap(),
            BackendChoice::Vulkan
        );
        let err = "cuda".parse::<BackendChoice>().unwrap_err();
        assert!(err.to_string().contains("--backend cuda"));
    }
}

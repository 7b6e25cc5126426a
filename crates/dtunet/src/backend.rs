//! The compute backends, the one place that names them: `flex` (pure-Rust CPU, always built)
//! and the opt-in `cuda`, `wgpu` and `tch` (LibTorch) features. Everything else takes a
//! [`Device`] and stays backend-agnostic.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{DtunetError, Result};

/// A backend selectable with `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Burn's pure-Rust CPU backend (SIMD, rayon threads).
    Flex,
    /// NVIDIA GPUs through CubeCL (`--features cuda`).
    Cuda,
    /// Any GPU through wgpu: Vulkan, Metal, DX12, WebGPU (`--features wgpu`).
    Wgpu,
    /// LibTorch through tch, CPU or CUDA (`--features tch`; needs a `torch` install).
    Tch,
}

impl BackendKind {
    /// Every backend, in the order `--help` lists them.
    pub const ALL: [BackendKind; 4] = [Self::Flex, Self::Cuda, Self::Wgpu, Self::Tch];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Cuda => "cuda",
            Self::Wgpu => "wgpu",
            Self::Tch => "tch",
        }
    }

    /// Whether this binary was built with the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Flex => true,
            Self::Cuda => cfg!(feature = "cuda"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Tch => cfg!(feature = "tch"),
        }
    }

    /// Caps the CPU threads of the backend's own pool at `threads`: LibTorch (`tch`) keeps an
    /// intra-op pool outside rayon; flex runs on the caller's rayon pool, and the GPU backends
    /// compute on the device, so for them this does nothing.
    #[allow(unused_variables)]
    pub fn limit_cpu_threads(self, threads: usize) {
        #[cfg(feature = "tch")]
        if self == Self::Tch {
            tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
        }
    }

    /// The device `index` of this backend (GPU ordinal for CUDA / LibTorch-CUDA; ignored by
    /// flex and wgpu, which take the default adapter). Fails when the binary lacks the feature.
    pub fn device(self, index: Option<usize>) -> Result<Device> {
        if !self.is_compiled() {
            return Err(DtunetError::InvalidParameter {
                name: "--backend",
                found: self.name().into(),
                expected: format!(
                    "a backend this binary was built with ({}); rebuild with \
                     `cargo build --release --features {}` for this one",
                    compiled_names(),
                    self.name()
                ),
            });
        }
        Ok(self.compiled_device(index))
    }

    #[allow(unused_variables)]
    fn compiled_device(self, index: Option<usize>) -> Device {
        match self {
            #[cfg(feature = "cuda")]
            Self::Cuda => Device::cuda(index.unwrap_or(0)),
            #[cfg(feature = "wgpu")]
            Self::Wgpu => Device::wgpu(Default::default()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::Tch => match index {
                Some(gpu) => Device::libtorch_cuda(gpu),
                None => Device::libtorch(),
            },
            _ => Device::flex(),
        }
    }
}

fn compiled_names() -> String {
    BackendKind::ALL
        .into_iter()
        .filter(|kind| kind.is_compiled())
        .map(BackendKind::name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for BackendKind {
    type Err = DtunetError;

    fn from_str(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| DtunetError::InvalidParameter {
                name: "--backend",
                found: format!("{text:?}"),
                expected: "one of flex, cuda, wgpu, tch".into(),
            })
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_is_always_there_and_missing_features_say_how_to_get_them() {
        assert!(BackendKind::Flex.device(None).is_ok());
        if !cfg!(feature = "cuda") {
            let text = BackendKind::Cuda
                .device(Some(0))
                .expect_err("not built")
                .to_string();
            assert!(text.contains("--features cuda"), "{text}");
        }
        assert_eq!(
            "wgpu".parse::<BackendKind>().expect("known"),
            BackendKind::Wgpu
        );
        assert!("metal".parse::<BackendKind>().is_err());
    }
}

//! Run-time choice of the Burn backend and float precision.
//!
//! Burn 0.22 picks the backend through the [`Device`], not through a type parameter, so this
//! crate never names a backend in its types: callers resolve a [`Compute`] to a device once and
//! pass that device around.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use burn::tensor::{Device, FloatDType};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// A Burn backend compiled into this build (or not: [`Backend::is_available`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Burn's `flex` CPU backend (cargo feature `flex`, on by default).
    #[default]
    Flex,
    /// Burn's `ndarray` CPU backend (cargo feature `ndarray`).
    Ndarray,
    /// Burn's wgpu backend on Vulkan (cargo feature `vulkan`): the default Vulkan adapter, a GPU
    /// or Mesa's software `llvmpipe` (`CUBECL_WGPU_DEFAULT_DEVICE` chooses another). f32 only.
    Vulkan,
}

impl Backend {
    /// Every backend, compiled in or not.
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::Ndarray, Backend::Vulkan];

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Vulkan => "vulkan",
        }
    }

    /// Whether this build includes the backend.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Ndarray => cfg!(feature = "ndarray"),
            Backend::Vulkan => cfg!(feature = "vulkan"),
        }
    }

    /// The backends this build includes.
    pub fn available() -> Vec<Backend> {
        Self::ALL.into_iter().filter(|b| b.is_available()).collect()
    }

    fn raw_device(self) -> Result<Device> {
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            // Deprecated upstream in favour of flex; kept because the project brief names it.
            #[allow(deprecated)]
            Backend::Ndarray => Ok(Device::ndarray()),
            #[cfg(feature = "vulkan")]
            Backend::Vulkan => Ok(Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)),
            #[allow(unreachable_patterns)]
            other => Err(ModelError::BackendUnavailable(other.name())),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "flex" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::Ndarray),
            "vulkan" => Ok(Backend::Vulkan),
            _ => Err(crate::error::config_error(
                "backend",
                format!("`{s}` is not one of: flex, ndarray, vulkan"),
            )),
        }
    }
}

/// Float type of the tensors on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (the default).
    #[default]
    F32,
    /// 64-bit floats: slower, for polishing to tight tolerances and for gradient checks.
    F64,
}

impl Precision {
    fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        }
    }
}

/// Where and in which precision tensors live: resolves to a Burn [`Device`].
///
/// Burn fixes a device's float type once per process, so [`Compute::device`] refuses a second
/// precision for a backend already used with another one ([`ModelError::PrecisionConflict`])
/// instead of silently computing in the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Compute {
    /// The backend (default `flex`).
    pub backend: Backend,
    /// The float type (default `f32`).
    pub precision: Precision,
}

static CONFIGURED: Mutex<Option<HashMap<Backend, Precision>>> = Mutex::new(None);

impl Compute {
    /// The default backend in the given precision.
    pub fn new(backend: Backend, precision: Precision) -> Self {
        Self { backend, precision }
    }

    /// The (non-autodiff) Burn device, configured for this precision.
    ///
    /// # Errors
    /// [`ModelError::BackendUnavailable`] when the backend is not compiled in;
    /// [`ModelError::PrecisionConflict`] when this process already uses the backend with another
    /// float type.
    pub fn device(&self) -> Result<Device> {
        let mut device = self.backend.raw_device()?;
        let mut guard = CONFIGURED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let configured = guard.get_or_insert_with(HashMap::new);
        if let Some(&precision) = configured.get(&self.backend) {
            return if precision == self.precision {
                Ok(device)
            } else {
                Err(ModelError::PrecisionConflict {
                    backend: self.backend.name(),
                    configured: precision,
                    requested: self.precision,
                })
            };
        }
        let wanted = self.precision.dtype();
        if let Err(error) = device.configure(wanted) {
            // Something created a tensor on this device before us, locking its defaults.
            let actual = device.settings().float_dtype;
            if actual != wanted {
                let configured = if actual == FloatDType::F64 {
                    Precision::F64
                } else {
                    Precision::F32
                };
                if configured == self.precision {
                    return Err(error.into());
                }
                return Err(ModelError::PrecisionConflict {
                    backend: self.backend.name(),
                    configured,
                    requested: self.precision,
                });
            }
        }
        configured.insert(self.backend, self.precision);
        Ok(device)
    }
}

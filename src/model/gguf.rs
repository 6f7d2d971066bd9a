//! A small, bounds-checked GGUF reader (versions 2 and 3).
//!
//! Every length read from the file is checked against the bytes that remain before anything
//! is allocated, so a truncated or hostile file gives an error naming what was being read.

use crate::error::{Error, Result};
use crate::model::tensor::DType;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Tensors have at most this many dimensions in GGUF.
const MAX_DIMS: u32 = 4;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// A short rendering for `shaderlm info` (arrays are summarised).
    pub fn summary(&self) -> String {
        match self {
            Value::String(s) if s.chars().count() > 60 => {
                format!(
                    "{:?}... ({} chars)",
                    s.chars().take(60).collect::<String>(),
                    s.chars().count()
                )
            }
            Value::String(s) => format!("{s:?}"),
            Value::Array(a) => format!("[{} values]", a.len()),
            Value::Bool(b) => b.to_string(),
            Value::F32(v) => v.to_string(),
            Value::F64(v) => v.to_string(),
            other => other.as_u64().map(|v| v.to_string()).unwrap_or_default(),
        }
    }
}

/// Where one tensor's data lies in the file.
#[derive(Debug, Clone)]
pub struct GgufTensor {
    pub name: String,
    /// Dimensions as GGUF lists them: fastest-varying first.
    pub dims: Vec<u64>,
    pub dtype: DType,
    /// Absolute byte offset in the file.
    pub offset: u64,
    pub bytes: u64,
}

/// The parsed header of a GGUF file; tensor data stays in the file (memory-mapped).
#[derive(Debug)]
pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<GgufTensor>,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::model(self.path, format!("GGUF: {message} (at byte {})", self.pos))
    }

    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(format!(
                "truncated while reading {what}: needs {n} bytes, {} remain",
                self.remaining()
            )));
        }
        let slice = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().unwrap_or_default(),
        ))
    }

    /// A count that must fit in what remains at `min_item_bytes` per item.
    fn count(&mut self, what: &str, min_item_bytes: usize) -> Result<usize> {
        let n = self.u64(what)?;
        let fits = usize::try_from(n).ok().filter(|&n| {
            n.checked_mul(min_item_bytes.max(1))
                .is_some_and(|b| b <= self.remaining())
        });
        fits.ok_or_else(|| {
            self.err(format!(
                "{what} of {n} would run past the end of the file ({} bytes remain)",
                self.remaining()
            ))
        })
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.count(&format!("length of {what}"), 1)?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| self.err(format!("{what} is not valid UTF-8")))
    }

    fn value(&mut self, value_type: u32, what: &str, depth: u32) -> Result<Value> {
        Ok(match value_type {
            0 => Value::U8(self.u8(what)?),
            1 => Value::I8(self.u8(what)? as i8),
            2 => Value::U16(self.u16(what)?),
            3 => Value::I16(self.u16(what)? as i16),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(self.u32(what)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(what)?)),
            7 => Value::Bool(self.u8(what)? != 0),
            8 => Value::String(self.string(what)?),
            9 => {
                if depth > 2 {
                    return Err(self.err(format!("{what}: arrays nested too deeply")));
                }
                let item_type = self.u32(what)?;
                let min_bytes = match item_type {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8..=12 => 8,
                    other => {
                        return Err(self.err(format!("{what}: unknown array item type {other}")))
                    }
                };
                let n = self.count(&format!("length of array {what}"), min_bytes)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item_type, what, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(self.u64(what)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(what)?)),
            other => return Err(self.err(format!("{what}: unknown value type {other}"))),
        })
    }
}

impl GgufFile {
    /// Parses the header of `data`, the whole file's bytes.
    pub fn parse(path: &Path, data: &[u8]) -> Result<GgufFile> {
        let mut r = Reader { data, pos: 0, path };
        let magic = r.take(4, "the magic number")?;
        if magic != MAGIC {
            return Err(Error::model(
                path,
                format!(
                    "not a GGUF file (magic {:?}, expected \"GGUF\")",
                    String::from_utf8_lossy(magic)
                ),
            ));
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(Error::model(
                path,
                format!("GGUF version {version} is not supported (2 and 3 are)"),
            ));
        }
        // A tensor record takes at least 8 (name length) + 4 + 8 + 4 + 8 bytes.
        let tensor_count = r.u64("the tensor count")?;
        let kv_count = r.u64("the metadata count")?;
        let mut metadata = BTreeMap::new();
        for i in 0..kv_count {
            if r.remaining() < 12 {
                return Err(r.err(format!("truncated in metadata entry {i} of {kv_count}")));
            }
            let key = r.string("a metadata key")?;
            let value_type = r.u32(&key)?;
            let value = r.value(value_type, &key, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::new();
        for i in 0..tensor_count {
            if r.remaining() < 32 {
                return Err(r.err(format!("truncated in tensor record {i} of {tensor_count}")));
            }
            let name = r.string("a tensor name")?;
            let n_dims = r.u32(&name)?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(r.err(format!(
                    "tensor {name}: {n_dims} dimensions (1 to {MAX_DIMS} allowed)"
                )));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64(&name)?);
            }
            let type_id = r.u32(&name)?;
            let dtype = DType::from_ggml(type_id).map_err(|type_name| {
                Error::model(
                    path,
                    format!(
                        "tensor {name}: type {type_name} is not supported (supported: {})",
                        DType::GGUF_SUPPORTED
                    ),
                )
            })?;
            let offset = r.u64(&name)?;
            let elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| r.err(format!("tensor {name}: dimensions {dims:?} overflow")))?;
            let bytes = dtype.bytes_for(elements).ok_or_else(|| {
                r.err(format!(
                    "tensor {name}: {elements} elements do not fill whole {} blocks",
                    dtype.name()
                ))
            })?;
            tensors.push(GgufTensor {
                name,
                dims,
                dtype,
                offset,
                bytes,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => v
                .as_u64()
                .filter(|a| *a > 0 && a.is_power_of_two() && *a <= 1 << 20)
                .ok_or_else(|| {
                    Error::model(
                        path,
                        format!("general.alignment {} is not a power of two", v.summary()),
                    )
                })?,
        };
        let data_start = (r.pos as u64).div_ceil(alignment) * alignment;
        let file_len = data.len() as u64;
        for t in &mut tensors {
            let start = data_start.checked_add(t.offset);
            let end = start.and_then(|s| s.checked_add(t.bytes));
            match (start, end) {
                (Some(start), Some(end)) if end <= file_len => t.offset = start,
                _ => {
                    return Err(Error::model(
                        path,
                        format!(
                            "tensor {}: data at offset {} + {} bytes runs past the end of the file ({file_len} bytes)",
                            t.name, t.offset, t.bytes
                        ),
                    ))
                }
            }
        }
        Ok(GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// A required unsigned integer.
    pub fn u64(&self, key: &str) -> Result<u64> {
        self.get(key).and_then(Value::as_u64).ok_or_else(|| {
            Error::model(
                &self.path,
                format!("GGUF metadata {key} is missing or not an integer"),
            )
        })
    }

    pub fn f64(&self, key: &str) -> Result<f64> {
        self.get(key).and_then(Value::as_f64).ok_or_else(|| {
            Error::model(
                &self.path,
                format!("GGUF metadata {key} is missing or not a number"),
            )
        })
    }

    pub fn str(&self, key: &str) -> Result<&str> {
        self.get(key).and_then(Value::as_str).ok_or_else(|| {
            Error::model(
                &self.path,
                format!("GGUF metadata {key} is missing or not a string"),
            )
        })
    }

    /// A required array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<&str>> {
        let array = self.get(key).and_then(Value::as_array).ok_or_else(|| {
            Error::model(
                &self.path,
                format!("GGUF metadata {key} is missing or not an array"),
            )
        })?;
        array
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    Error::model(
                        &self.path,
                        format!("GGUF metadata {key} holds a non-string"),
                    )
                })
            })
            .collect()
    }
}

/// Writes a GGUF file (used by tests and the fuzz seed corpus to make small valid files).
pub mod writer {
    use super::Value;

    fn put_string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    fn type_id(v: &Value) -> u32 {
        match v {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }

    fn put_value(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::U8(x) => out.push(*x),
            Value::I8(x) => out.push(*x as u8),
            Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::Bool(x) => out.push(u8::from(*x)),
            Value::String(s) => put_string(out, s),
            Value::Array(items) => {
                let item_type = items.first().map(type_id).unwrap_or(0);
                out.extend_from_slice(&item_type.to_le_bytes());
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    put_value(out, item);
                }
            }
            Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
            Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        }
    }

    /// One tensor to write: name, GGUF dims (fastest first), ggml type id, raw bytes.
    pub struct TensorData<'a> {
        pub name: &'a str,
        pub dims: Vec<u64>,
        pub ggml_type: u32,
        pub data: &'a [u8],
    }

    /// A complete GGUF v3 file with 32-byte alignment.
    pub fn write(metadata: &[(&str, Value)], tensors: &[TensorData<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
        for (key, value) in metadata {
            put_string(&mut out, key);
            out.extend_from_slice(&type_id(value).to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        let mut offsets = Vec::new();
        for t in tensors {
            put_string(&mut out, t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ggml_type.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offsets.push(offset);
            offset = (offset + t.data.len() as u64).div_ceil(32) * 32;
        }
        let data_start = (out.len() as u64).div_ceil(32) * 32;
        out.resize(data_start as usize, 0);
        for (t, off) in tensors.iter().zip(offsets) {
            out.resize((data_start + off) as usize, 0);
            out.extend_from_slice(t.data);
        }
        out
    }
}

//! Element types of weight tensors, and dequantization to f32 on the host.
//!
//! Quantized types follow the GGUF (ggml) block layouts, 32 elements a block:
//! - Q8_0: f16 scale d, 32 x i8 q;            w = d * q
//! - Q4_0: f16 scale d, 16 bytes of nibbles;  w = d * (q - 8)
//! - Q4_1: f16 scale d, f16 min m, 16 bytes;  w = d * q + m
//!
//! In a Q4 block, byte j holds element j in its low nibble and element j + 16 in its high one.

use half::{bf16, f16};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
}

/// Elements per quantization block.
pub const BLOCK: usize = 32;

impl DType {
    pub const GGUF_SUPPORTED: &'static str = "F32, F16, BF16, Q8_0, Q4_0, Q4_1";

    /// The dtype of a ggml type id, or the type's name when it is not supported.
    pub fn from_ggml(id: u32) -> Result<DType, String> {
        Ok(match id {
            0 => DType::F32,
            1 => DType::F16,
            2 => DType::Q4_0,
            3 => DType::Q4_1,
            8 => DType::Q8_0,
            30 => DType::BF16,
            other => {
                let name = match other {
                    6 => "Q5_0",
                    7 => "Q5_1",
                    9 => "Q8_1",
                    10 => "Q2_K",
                    11 => "Q3_K",
                    12 => "Q4_K",
                    13 => "Q5_K",
                    14 => "Q6_K",
                    15 => "Q8_K",
                    16..=23 | 29 => "IQ (i-quant)",
                    24 => "I8",
                    25 => "I16",
                    26 => "I32",
                    27 => "I64",
                    28 => "F64",
                    34 => "TQ1_0",
                    35 => "TQ2_0",
                    39 => "MXFP4",
                    _ => "unknown",
                };
                return Err(format!("{name} (ggml type {other})"));
            }
        })
    }

    pub fn ggml_id(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::Q4_0 => 2,
            DType::Q4_1 => 3,
            DType::Q8_0 => 8,
            DType::BF16 => 30,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::Q8_0 => "Q8_0",
            DType::Q4_0 => "Q4_0",
            DType::Q4_1 => "Q4_1",
        }
    }

    pub fn is_quantized(self) -> bool {
        matches!(self, DType::Q8_0 | DType::Q4_0 | DType::Q4_1)
    }

    /// (elements, bytes) of one storage unit.
    pub fn block(self) -> (u64, u64) {
        match self {
            DType::F32 => (1, 4),
            DType::F16 | DType::BF16 => (1, 2),
            DType::Q8_0 => (32, 34),
            DType::Q4_0 => (32, 18),
            DType::Q4_1 => (32, 20),
        }
    }

    /// Bytes holding `elements`, or None when they do not fill whole blocks or overflow.
    pub fn bytes_for(self, elements: u64) -> Option<u64> {
        let (per_block, block_bytes) = self.block();
        if !elements.is_multiple_of(per_block) {
            return None;
        }
        (elements / per_block).checked_mul(block_bytes)
    }
}

/// Dequantizes `bytes` of `dtype` into `out` (whose length is the element count).
pub fn dequantize_into(dtype: DType, bytes: &[u8], out: &mut [f32]) {
    let f16_at = |b: &[u8], i: usize| f16::from_le_bytes([b[i], b[i + 1]]).to_f32();
    match dtype {
        DType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        DType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        DType::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        DType::Q8_0 => {
            for (o, b) in out.chunks_exact_mut(BLOCK).zip(bytes.chunks_exact(34)) {
                let d = f16_at(b, 0);
                for (j, v) in o.iter_mut().enumerate() {
                    *v = d * f32::from(b[2 + j] as i8);
                }
            }
        }
        DType::Q4_0 => {
            for (o, b) in out.chunks_exact_mut(BLOCK).zip(bytes.chunks_exact(18)) {
                let d = f16_at(b, 0);
                for j in 0..16 {
                    let q = b[2 + j];
                    o[j] = d * (f32::from(q & 0xF) - 8.0);
                    o[j + 16] = d * (f32::from(q >> 4) - 8.0);
                }
            }
        }
        DType::Q4_1 => {
            for (o, b) in out.chunks_exact_mut(BLOCK).zip(bytes.chunks_exact(20)) {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                for j in 0..16 {
                    let q = b[4 + j];
                    o[j] = d * f32::from(q & 0xF) + m;
                    o[j + 16] = d * f32::from(q >> 4) + m;
                }
            }
        }
    }
}

/// Dequantizes a whole tensor of `elements`.
pub fn dequantize(dtype: DType, bytes: &[u8], elements: usize) -> Vec<f32> {
    let mut out = vec![0.0; elements];
    dequantize_into(dtype, bytes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_1_block_decodes_low_then_high_nibbles() {
        let mut block = Vec::new();
        block.extend_from_slice(&f16::from_f32(0.5).to_le_bytes());
        block.extend_from_slice(&f16::from_f32(-1.0).to_le_bytes());
        for j in 0..16u8 {
            block.push(j | ((15 - j) << 4));
        }
        let out = dequantize(DType::Q4_1, &block, 32);
        assert_eq!(out[0], -1.0);
        assert_eq!(out[3], 0.5 * 3.0 - 1.0);
        assert_eq!(out[16], 0.5 * 15.0 - 1.0);
        assert_eq!(out[31], -1.0);
    }

    #[test]
    fn q8_0_and_q4_0_blocks() {
        let mut block = f16::from_f32(0.25).to_le_bytes().to_vec();
        block.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let out = dequantize(DType::Q8_0, &block, 32);
        assert_eq!(out[0], -4.0);
        assert_eq!(out[31], 3.75);

        let mut block = f16::from_f32(2.0).to_le_bytes().to_vec();
        block.extend(std::iter::repeat_n(0x9Fu8, 16));
        let out = dequantize(DType::Q4_0, &block, 32);
        assert_eq!(out[0], 2.0 * (15.0 - 8.0));
        assert_eq!(out[16], 2.0 * (9.0 - 8.0));
    }

    #[test]
    fn sizes_of_blocks() {
        assert_eq!(DType::Q4_1.bytes_for(64), Some(40));
        assert_eq!(DType::Q8_0.bytes_for(33), None);
        assert_eq!(DType::F16.bytes_for(3), Some(6));
        assert!(DType::from_ggml(13).unwrap_err().contains("Q5_K"));
    }
}

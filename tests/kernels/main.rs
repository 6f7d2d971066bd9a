//! Every kernel against a plain CPU reference (f64 accumulation) on fresh random inputs,
//! outputs poisoned with NaN before each run so that an unwritten element fails.

#[path = "../common/mod.rs"]
mod common;

mod attention;
mod elementwise;
mod matrix;
mod norms;

//! Tests of `src/io/`: safetensors weights, and hostile files (weights and checkpoints).

mod ckpt_format;
mod hostile;
mod safetensors;

//! Tests of `src/io/`: safetensors weights and checkpoints.

mod checkpoint;
mod ckpt_format;
mod hostile;
mod safetensors;

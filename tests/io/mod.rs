//! Tests of `src/io/`: safetensors weights and checkpoints.

mod checkpoint;
mod safetensors;

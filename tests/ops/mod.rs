//! Tests of `src/ops/`: every differentiable op against finite differences in f64 and hand derivations, one module per op family (`elementwise` covers `unary.rs` and `binary.rs`).

mod conv;
mod elementwise;
mod heads;
mod higher_conv;
mod higher_matmul;
mod higher_nn;
mod higher_reduce;
mod higher_shape;
mod loss;
mod matmul;
mod nn;
mod numerics;
mod reduce;
mod shape;

//! Tests of `src/tensor/`: kernels without autodiff.

mod fastmath;
mod scalar_path;
mod shapes;

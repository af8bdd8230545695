use tapegrad::{Module, Param};

// Without a `Float` type parameter or `#[module(float = f64)]` the derive
// implements `Module<f32>`, which an f64 parameter is not.
#[derive(Module)]
struct Probe {
    w: Param<f64>,
}

fn main() {}

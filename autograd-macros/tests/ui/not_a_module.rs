use tapegrad::{Module, Param};

// `features` is plain data but is not marked `#[module(skip)]`.
#[derive(Module)]
struct Linear {
    weight: Param,
    features: usize,
    bias: Param,
}

// The same in a tuple struct, generic over the float type.
#[derive(Module)]
struct Pair<T: tapegrad::Float>(Param<T>, Vec<String>);

fn main() {}

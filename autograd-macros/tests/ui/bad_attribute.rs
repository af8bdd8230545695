use tapegrad::{Module, Param};

#[derive(Module)]
struct Typo {
    #[module(skipp)]
    size: usize,
    w: Param,
}

#[derive(Module)]
#[module(skip)]
struct OnStruct {
    w: Param,
}

#[derive(Module)]
struct TwoFloats<A: tapegrad::Float, B: tapegrad::Float> {
    a: Param<A>,
    b: Param<B>,
}

fn main() {}

use tapegrad::{Module, Param};

#[derive(Module)]
enum Head {
    Small(Param),
    Large { weight: Param, bias: Param },
}

fn main() {}

use tapegrad::Module;

#[derive(Module)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}

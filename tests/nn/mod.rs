//! Tests of `src/nn/`: modules, layers, losses, initialisers and `#[derive(Module)]`.

mod attention;
mod batch_norm;
mod buffers;
mod init;
mod layers;
mod loss;
mod module;
mod pytorch;
mod recurrent;
mod recurrent_stack;
mod sequential;
mod state;

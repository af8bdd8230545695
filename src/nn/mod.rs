//! Neural-network building blocks: parameters, modules, layers and
//! initialisers.
//!
//! A model is a plain struct of layers with `#[derive(Module)]`; each layer
//! implements [`Forward`], taking and returning a [`Var`](crate::Var) on the
//! input's tape.

mod activation;
mod attention;
mod batch_norm;
mod conv2d;
mod dropout;
mod embedding;
mod flatten;
pub mod init;
mod layer;
mod layer_norm;
mod linear;
pub mod loss;
mod module;
mod pool;
mod recurrent;
mod sequential;
pub(crate) mod state;
mod summary;

// Parameters live beside the tape (which binds them); re-exported here,
// where models are built.
pub use crate::tape::{Param, ParamId};
pub use activation::{Elu, Gelu, GeluTanh, LeakyRelu, Relu, Sigmoid, Silu, Softplus, Tanh};
pub use attention::{MultiHeadAttention, TransformerBlock};
pub use batch_norm::{BatchNorm1d, BatchNorm2d, RunningStats};
pub use conv2d::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use flatten::Flatten;
pub use layer::{Forward, Layer};
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use module::{Module, child_name, with_child_name};
pub use pool::{AvgPool2d, MaxPool2d};
pub use recurrent::{Gru, GruCell, Lstm, LstmCell, RecurrentCell, RecurrentStack, RecurrentState};
pub use sequential::Sequential;
pub use state::{LoadOptions, LoadReport, LoadStateError, StateMap, is_counter, legacy_name};
pub use summary::{BufferRow, ModuleSummary, ParamRow};

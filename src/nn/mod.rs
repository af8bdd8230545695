//! Neural-network building blocks: parameters, modules, layers and
//! initialisers.
//!
//! A model is a plain struct of layers with `#[derive(Module)]`; each layer
//! implements [`Forward`], taking and returning a [`Var`](crate::Var) on the
//! input's tape.

pub mod init;
mod layer;
mod layer_norm;
mod linear;
mod module;
mod param;

pub use layer::{Forward, Layer};
pub use layer_norm::LayerNorm;
pub use linear::Linear;
pub use module::{Module, ModuleSummary, ParamRow, child_name};
pub use param::{Param, ParamId};

//! Neural-network building blocks: parameters (and, as they arrive, modules,
//! layers, initialisers and losses).

mod module;
mod param;

pub use module::{Module, ModuleSummary, ParamRow, child_name};
pub use param::{Param, ParamId};

//! Neural-network building blocks: parameters (and, as they arrive, modules,
//! layers, initialisers and losses).

mod param;

pub use param::{Param, ParamId};

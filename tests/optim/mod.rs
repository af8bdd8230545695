//! Tests of `src/optim/`: update rules against an f64 reference, whole models, saved state.

mod models;
mod rules;
mod state;

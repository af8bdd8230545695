//! Tests of `src/optim/`: update rules against an f64 reference, whole models, saved state.

mod lrfree;
mod models;
mod rules;
mod schedule_free;
mod state;

//! Tests of `src/tape/` and `src/check.rs`: recording, printing, anomaly mode, the profiler and gradcheck itself.

mod anomaly;
mod check;
mod checkpoint;
mod custom;
mod higher;
mod print;
mod profile;
mod recording;
mod reset;

//! Tests of `src/data/`: datasets, CSV and IDX loading, the DataLoader.

mod hostile;
mod loader;

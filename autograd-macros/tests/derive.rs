//! `#[derive(Module)]` rejects what it cannot support with errors that point
//! at the cause (checked against tests/ui/*.stderr; regenerate them with
//! `TRYBUILD=overwrite cargo test --release -p autograd-macros --test derive` and read the diff).

#[test]
fn derive_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

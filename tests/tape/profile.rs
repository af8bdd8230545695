//! The profiler: per op kind, counts that match the ops recorded, times
//! that add up, and a table.

use std::time::Duration;
use tapegrad::{Tape, Tensor};

/// Records `y = tanh(x * 1.01 + 0.1)` `steps` times, then a sum.
fn chain(tape: &Tape<f32>, steps: usize) -> tapegrad::Var<'_, f32> {
    let x = tape.var(Tensor::from_vec(vec![0.5; 8], &[8]).unwrap());
    let mut y = x;
    for _ in 0..steps {
        y = (y * 1.01 + 0.1).tanh();
    }
    y.sum()
}

#[test]
fn counts_equal_the_ops_recorded() {
    let tape = Tape::<f32>::new();
    tape.set_profiling(true);
    let loss = chain(&tape, 10);
    let _ = loss.backward();
    let p = tape.profile();
    // 1 var + 10 x (mul, add, tanh) + 1 sum, as the printed tape lists them.
    assert_eq!(p.count(), tape.len() as u64);
    assert_eq!(p.count(), 32);
    assert_eq!(p.get("var").unwrap().count, 1);
    assert_eq!(p.get("mul").unwrap().count, 10);
    assert_eq!(p.get("add").unwrap().count, 10);
    assert_eq!(p.get("tanh").unwrap().count, 10);
    assert_eq!(p.get("sum").unwrap().count, 1);
    assert_eq!(p.rows().len(), 5);
    // The same kinds, counted from the printed tape.
    let printed = tape.to_string();
    assert_eq!(printed.matches(" = tanh(").count(), 10);
    assert_eq!(printed.matches(" = mul[").count(), 10);
    // Every op that ran a rule was timed in both passes.
    let tanh = p.get("tanh").unwrap();
    assert!(tanh.forward > Duration::ZERO && tanh.backward > Duration::ZERO);
    // Shares add up to one; rows come largest first.
    let shares: f64 = p.rows().iter().map(|r| p.share(r)).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    assert!(p.rows().windows(2).all(|w| w[0].total() >= w[1].total()));
    assert_eq!(p.total(), p.rows().iter().map(|r| r.total()).sum());
}

#[test]
fn totals_add_up_across_resets_until_cleared() {
    let mut tape = Tape::<f32>::new();
    tape.set_profiling(true);
    for _ in 0..3 {
        let _ = chain(&tape, 4).backward();
        tape.reset();
    }
    let p = tape.profile();
    assert_eq!(p.get("tanh").unwrap().count, 12);
    assert_eq!(p.count(), 3 * (1 + 12 + 1));
    tape.clear_profile();
    assert_eq!(tape.profile().count(), 0);
}

#[test]
fn off_records_nothing() {
    let tape = Tape::<f32>::new();
    assert!(!tape.is_profiling());
    let _ = chain(&tape, 3).backward();
    assert_eq!(tape.profile().count(), 0);
    // Switched on halfway: only later nodes count.
    tape.set_profiling(true);
    let x = tape.var(Tensor::ones(&[2]));
    let _ = x.exp();
    assert_eq!(tape.profile().count(), 2);
}

#[test]
fn display_is_a_table_with_a_total_line() {
    let tape = Tape::<f32>::new();
    tape.set_profiling(true);
    let x = tape.var(Tensor::ones(&[16, 16]));
    let _ = x.matmul(x).relu().sum().backward();
    let table = tape.profile().to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("op") && lines[0].contains("share"),
        "{table}"
    );
    assert_eq!(lines.len(), 1 + 4 + 1, "{table}"); // header, 4 kinds, total
    assert!(
        lines[5].starts_with("total") && lines[5].ends_with("100.0%"),
        "{table}"
    );
    assert!(
        table.contains("matmul") && table.contains("relu"),
        "{table}"
    );
}

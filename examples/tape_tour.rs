//! A tour of the tape: one neuron, `y = tanh(w1*x1 + w2*x2 + b)`, recorded,
//! printed, differentiated and drawn.
//!
//! Run it with:
//!
//! ```text
//! cargo run --release --example tape_tour              # writes target/tape_tour.dot
//! cargo run --release --example tape_tour -- out.dot   # writes out.dot
//! ```
//!
//! The numbers are those of micrograd's neuron example, chosen so that the
//! weighted sum is `atanh(1/sqrt 2)`: then `y = 1/sqrt 2` and `1 - y^2 = 1/2`,
//! and every gradient is a round number you can check by hand.

use std::path::PathBuf;
use tapegrad::{Tape, Tensor, Var};

#[path = "common/args.rs"]
mod args;

fn main() -> std::io::Result<()> {
    let out_path: PathBuf = args::parse(
        "tape_tour",
        "one neuron's tape, printed, checked by hand and drawn.",
        |a| {
            a.positional(
                "PATH",
                concat!(env!("CARGO_MANIFEST_DIR"), "/target/tape_tour.dot"),
                "the Graphviz file to write",
            )
        },
    );

    // f64 so that the comparison with the hand-derived values is exact to
    // the last few bits.
    let tape = Tape::<f64>::new();
    // Keep every node's gradient, not only the leaves', so that the
    // intermediate ones can be printed and drawn.
    tape.retain_grads();

    let (x1v, x2v, w1v, w2v, bv) = (2.0, 0.0, -3.0, 1.0, 6.881_373_587_019_543);
    let x1 = tape.var(Tensor::scalar(x1v));
    let x2 = tape.var(Tensor::scalar(x2v));
    let w1 = tape.var(Tensor::scalar(w1v));
    let w2 = tape.var(Tensor::scalar(w2v));
    let b = tape.var(Tensor::scalar(bv));
    let x1w1 = x1 * w1;
    let x2w2 = x2 * w2;
    let sum = x1w1 + x2w2;
    let n = sum + b;
    let y = n.tanh();

    println!("The tape after the forward pass (a Wengert list: one line per");
    println!("value, in the order it was computed, with its shape):\n");
    print!("{tape}");
    println!("\n(the leaves %0 to %4 are x1, x2, w1, w2 and b; %9 is y)");
    println!("y = {}\n", y.value());

    let grads = y.backward();

    // Hand derivation. y = tanh(n) with n = x1 w1 + x2 w2 + b, so
    //   dy/dy    = 1
    //   dy/dn    = 1 - tanh^2(n) = 1 - y^2
    //   an add passes its gradient to both inputs unchanged:
    //   dy/d(sum) = dy/d(b) = dy/d(x1 w1) = dy/d(x2 w2) = 1 - y^2
    //   a product sends each input the other factor:
    //   dy/dx1 = (1 - y^2) w1     dy/dw1 = (1 - y^2) x1
    //   dy/dx2 = (1 - y^2) w2     dy/dw2 = (1 - y^2) x2
    let yv = y.item();
    let dn = 1.0 - yv * yv;
    let rows: [(&str, Var<'_, f64>, &str, f64); 10] = [
        ("x1", x1, "(1 - y^2) w1", dn * w1v),
        ("x2", x2, "(1 - y^2) w2", dn * w2v),
        ("w1", w1, "(1 - y^2) x1", dn * x1v),
        ("w2", w2, "(1 - y^2) x2", dn * x2v),
        ("b", b, "1 - y^2", dn),
        ("x1*w1", x1w1, "1 - y^2", dn),
        ("x2*w2", x2w2, "1 - y^2", dn),
        ("x1*w1 + x2*w2", sum, "1 - y^2", dn),
        ("n", n, "1 - y^2", dn),
        ("y", y, "1", 1.0),
    ];

    println!("Gradients of y, from backward and by hand:\n");
    println!(
        "{:>4}  {:<14} {:>12}  {:>12}  {:<14} {:>9}",
        "node", "what", "backward", "by hand", "formula", "diff"
    );
    let mut worst: f64 = 0.0;
    for (name, var, formula, by_hand) in rows {
        // Leaves' gradients are in `grads`; the rest were kept on the tape
        // because of `retain_grads`. Both agree for the leaves.
        let from_tape = var
            .retained_grad()
            .expect("retain_grads keeps every gradient")
            .item();
        let diff = from_tape - by_hand;
        worst = worst.max(diff.abs());
        println!(
            "{:>4}  {name:<14} {from_tape:>12.8}  {by_hand:>12.8}  {formula:<14} {diff:>9.1e}",
            format!("%{}", var.index())
        );
    }
    assert_eq!(grads.wrt(w1).item(), w1.retained_grad().unwrap().item());
    println!("\nlargest difference: {worst:.1e}");

    if let Some(dir) = out_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out_path, tape.to_dot())?;
    println!(
        "\nWrote the graph, values and gradients to {}",
        out_path.display()
    );
    println!("Render it with Graphviz (`apt-get install graphviz` if you lack `dot`):");
    println!("  dot -Tsvg {} -o tape_tour.svg", out_path.display());
    Ok(())
}

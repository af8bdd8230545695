//! Printing: tensors as NumPy prints them, the tape as a Wengert list, and
//! the tape as Graphviz.
//!
//! Expected tensor strings are NumPy 2.4's `str(np.array(...))` for the same
//! values (with `np.printoptions(precision=N, floatmode="fixed")` for the
//! `{:.N}` cases); the NumPy expression is in a comment above each.

use tapegrad::{Param, Tape, Tensor, tensor};

fn arange(n: usize) -> Tensor<f64> {
    Tensor::arange(0.0, n as f64, 1.0)
}

#[test]
fn one_d_aligns_points_and_pads_short_fractions() {
    // np.array([1.0, 2.5, -3.0])
    assert_eq!(tensor![1.0, 2.5, -3.0].to_string(), "[ 1.   2.5 -3. ]");
    // np.array([1/3, 2/3, 0.5001]): at most 8 decimals, shorter ones padded
    let t = tensor![1.0 / 3.0, 2.0 / 3.0, 1e-4 + 0.5];
    assert_eq!(t.to_string(), "[0.33333333 0.66666667 0.5001    ]");
}

#[test]
fn two_d_puts_one_row_per_line() {
    // np.array([[0.1, 0.2, 0.3], [10.0, 20.5, -1.0]])
    let t = tensor![[0.1, 0.2, 0.3], [10.0, 20.5, -1.0]];
    assert_eq!(t.to_string(), "[[ 0.1  0.2  0.3]\n [10.  20.5 -1. ]]");
}

#[test]
fn three_d_separates_blocks_with_a_blank_line() {
    // np.arange(12.).reshape(2, 2, 3) * 0.5 - 1
    let t = Tensor::from_vec((0..12).map(|i| i as f64 * 0.5 - 1.0).collect(), &[2, 2, 3]).unwrap();
    assert_eq!(
        t.to_string(),
        "[[[-1.  -0.5  0. ]\n  [ 0.5  1.   1.5]]\n\n [[ 2.   2.5  3. ]\n  [ 3.5  4.   4.5]]]"
    );
    // np.array([[1., 2.], [3., 4.]]).reshape(2, 2, 1)
    let t = tensor![[[1.0], [2.0]], [[3.0], [4.0]]];
    assert_eq!(t.to_string(), "[[[1.]\n  [2.]]\n\n [[3.]\n  [4.]]]");
}

#[test]
fn zero_d_prints_the_bare_number() {
    // str(np.array(x)) is Python's str(float(x))
    assert_eq!(Tensor::scalar(2.5).to_string(), "2.5");
    assert_eq!(Tensor::scalar(1.0).to_string(), "1.0");
    assert_eq!(Tensor::scalar(1e-5).to_string(), "1e-05");
    assert_eq!(Tensor::scalar(-1.5e20).to_string(), "-1.5e+20");
    assert_eq!(Tensor::scalar(1234567.0).to_string(), "1234567.0");
    assert_eq!(Tensor::scalar(f64::NAN).to_string(), "nan");
    // A precision fixes the decimals, as Rust's own `{:.3}` does.
    assert_eq!(format!("{:.3}", Tensor::scalar(2.5)), "2.500");
}

#[test]
fn more_than_a_thousand_elements_elides_the_middle() {
    // np.arange(1001.): the width comes from the shown entries only
    assert_eq!(
        arange(1001).to_string(),
        "[   0.    1.    2. ...  998.  999. 1000.]"
    );
    // A thousand exactly is printed in full.
    assert!(!arange(1000).to_string().contains("..."));
}

#[test]
fn elision_applies_to_every_long_axis() {
    // np.arange(1200.).reshape(2, 30, 20): the first axis is short and
    // stays whole; the ratio 1199 / 1 > 1000 switches to scientific notation
    let expected = "\
[[[0.000e+00 1.000e+00 2.000e+00 ... 1.700e+01 1.800e+01 1.900e+01]
  [2.000e+01 2.100e+01 2.200e+01 ... 3.700e+01 3.800e+01 3.900e+01]
  [4.000e+01 4.100e+01 4.200e+01 ... 5.700e+01 5.800e+01 5.900e+01]
  ...
  [5.400e+02 5.410e+02 5.420e+02 ... 5.570e+02 5.580e+02 5.590e+02]
  [5.600e+02 5.610e+02 5.620e+02 ... 5.770e+02 5.780e+02 5.790e+02]
  [5.800e+02 5.810e+02 5.820e+02 ... 5.970e+02 5.980e+02 5.990e+02]]

 [[6.000e+02 6.010e+02 6.020e+02 ... 6.170e+02 6.180e+02 6.190e+02]
  [6.200e+02 6.210e+02 6.220e+02 ... 6.370e+02 6.380e+02 6.390e+02]
  [6.400e+02 6.410e+02 6.420e+02 ... 6.570e+02 6.580e+02 6.590e+02]
  ...
  [1.140e+03 1.141e+03 1.142e+03 ... 1.157e+03 1.158e+03 1.159e+03]
  [1.160e+03 1.161e+03 1.162e+03 ... 1.177e+03 1.178e+03 1.179e+03]
  [1.180e+03 1.181e+03 1.182e+03 ... 1.197e+03 1.198e+03 1.199e+03]]]";
    assert_eq!(arange(1200).reshape(&[2, 30, 20]).to_string(), expected);
}

#[test]
fn long_rows_wrap_at_75_columns() {
    // np.arange(30.)
    assert_eq!(
        arange(30).to_string(),
        "[ 0.  1.  2.  3.  4.  5.  6.  7.  8.  9. 10. 11. 12. 13. 14. 15. 16. 17.\n \
         18. 19. 20. 21. 22. 23. 24. 25. 26. 27. 28. 29.]"
    );
}

#[test]
fn wide_ranges_switch_to_scientific_notation() {
    // np.array([1e-5, 1.0, 1234.5]): mantissas padded to equal digits
    assert_eq!(
        tensor![1e-5, 1.0, 1234.5].to_string(),
        "[1.0000e-05 1.0000e+00 1.2345e+03]"
    );
    // np.array([1e10, -2.0])
    assert_eq!(tensor![1e10, -2.0].to_string(), "[ 1.e+10 -2.e+00]");
}

#[test]
fn non_finite_values_align_right() {
    // np.array([np.nan, 1.5, -np.inf]) and np.array([np.nan, np.inf])
    assert_eq!(
        tensor![f64::NAN, 1.5, f64::NEG_INFINITY].to_string(),
        "[ nan  1.5 -inf]"
    );
    assert_eq!(tensor![f64::NAN, f64::INFINITY].to_string(), "[nan inf]");
}

#[test]
fn precision_fixes_the_decimals() {
    // np.array([[1.0, 2.5], [-0.12345, 100]]), precision=3, floatmode="fixed"
    let t = tensor![[1.0, 2.5], [-0.12345, 100.0]];
    assert_eq!(format!("{t:.3}"), "[[  1.000   2.500]\n [ -0.123 100.000]]");
    // np.array([1e-5, 1.0, 1234.5]), precision=2, floatmode="fixed"
    assert_eq!(
        format!("{:.2}", tensor![1e-5, 1.0, 1234.5]),
        "[1.00e-05 1.00e+00 1.23e+03]"
    );
}

#[test]
fn f32_prints_its_own_shortest_digits() {
    // np.array([0.1, 0.2, 0.3], dtype=np.float32), not 0.10000000149011612
    let t: Tensor<f32> = tensor![0.1, 0.2, 0.3];
    assert_eq!(t.to_string(), "[0.1 0.2 0.3]");
}

#[test]
fn signed_zero_and_empty_tensors() {
    // np.array([0.0, -0.0]) and np.zeros((2, 0))
    assert_eq!(tensor![0.0, -0.0].to_string(), "[ 0. -0.]");
    assert_eq!(Tensor::<f64>::zeros(&[2, 0]).to_string(), "[]");
}

#[test]
fn tape_prints_as_a_wengert_list() {
    let tape = Tape::<f64>::new();
    let p = Param::<f64>::new("w", Tensor::zeros(&[2, 3]));
    let x = tape.var(tensor![1.0, 2.0, 3.0]);
    let c = tape.constant(Tensor::scalar(2.0));
    let w = tape.param(&p);
    let y = (w * x - c).tanh() * 2.0;
    let _ = y.detach();
    // One line per node in recording order; leaves show their kind, ops
    // their parents, and every line ends with the shape after two spaces.
    let expected = format!(
        "%0 = var  [3]\n\
         %1 = constant  []\n\
         %2 = param#{}  [2, 3]\n\
         %3 = mul(%2, %0)  [2, 3]\n\
         %4 = sub(%3, %1)  [2, 3]\n\
         %5 = tanh(%4)  [2, 3]\n\
         %6 = mul[2](%5)  [2, 3]\n\
         %7 = detach(%6)  [2, 3]\n",
        p.id().0
    );
    assert_eq!(tape.to_string(), expected);
    assert_eq!(Tape::<f32>::new().to_string(), "");
}

/// Checks that braces, brackets and double quotes (outside escapes) pair up.
fn assert_balanced(dot: &str) {
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for c in dot.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced DOT:\n{dot}");
            }
            _ => {}
        }
    }
    assert!(depth == 0 && !in_string, "unbalanced DOT:\n{dot}");
}

/// If Graphviz is installed, checks that `dot -Tsvg` accepts the text;
/// without it, the syntax check above is all there is.
fn render_if_graphviz_is_installed(dot: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("graphviz `dot` not found: skipping the render check");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dot rejected the graph: {}\n{dot}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}

/// The label of DOT node `n{i}`, with `\n` escapes turned back into lines.
fn label(dot: &str, i: usize) -> String {
    let line = dot
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("n{i} [")))
        .unwrap_or_else(|| panic!("no node n{i} in:\n{dot}"));
    let start = line.find("label=\"").unwrap() + "label=\"".len();
    let end = line.rfind('"').unwrap();
    line[start..end].replace("\\n", "\n")
}

/// The attributes of DOT node `n{i}` before its label: shape and colours.
fn look(dot: &str, i: usize) -> String {
    let line = dot
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("n{i} [")))
        .unwrap();
    line[line.find('[').unwrap()..line.find("label=").unwrap()].to_string()
}

/// The number after `what ` on a label line (`value 2.0000`, `grad -1.5`).
fn number(label: &str, what: &str) -> Option<f64> {
    let line = label.lines().find(|l| l.starts_with(&format!("{what} ")))?;
    Some(line[what.len() + 1..].parse().unwrap())
}

/// Equal to the 4 significant digits labels show at least.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 5e-4 * b.abs()
}

#[test]
fn dot_export_shows_nodes_edges_values_and_gradients() {
    let tape = Tape::<f64>::new();
    tape.retain_grads();
    let a = tape.var(Tensor::scalar(2.0));
    let b = tape.constant(Tensor::scalar(-3.0));
    let p = Param::<f64>::new("bias", tensor![1.0, 2.0, 3.0, 4.0, 5.0]);
    let c = tape.param(&p);
    let ab = a * b; // -6
    let y = ab.tanh();
    let _ = (c * y).backward_with(Tensor::ones(&[5]));
    let dot = tape.to_dot();
    assert!(dot.starts_with("digraph tape {\n"), "{dot}");
    assert!(dot.ends_with("}\n"));
    assert_balanced(&dot);

    // Labels: index and op, shape, value, gradient.
    let l: Vec<String> = (0..6).map(|i| label(&dot, i)).collect();
    assert!(l[0].starts_with("%0 = var\n[]\n"), "{}", l[0]);
    assert!(l[1].starts_with("%1 = constant\n[]\n"));
    assert!(l[2].starts_with(&format!("%2 = param#{}\n[5]\n", p.id().0)));
    assert!(l[3].starts_with("%3 = mul(%0, %1)\n[]\n"));
    assert!(l[4].starts_with("%4 = tanh(%3)\n[]\n"));
    assert!(l[5].starts_with("%5 = mul(%2, %4)\n[5]\n"));
    assert_eq!(number(&l[0], "value"), Some(2.0));
    assert_eq!(number(&l[1], "value"), Some(-3.0));
    assert_eq!(number(&l[3], "value"), Some(-6.0));
    let t = (-6.0f64).tanh();
    assert!(close(number(&l[4], "value").unwrap(), t));
    // More than 4 elements: the range instead of every value.
    assert!(l[2].contains("value min 1.0000 max 5.0000"), "{}", l[2]);

    // Gradients (all retained). L = sum_k c_k y with a ones seed:
    // dL/dy = sum c = 15; dL/d(ab) = 15 (1 - tanh^2(-6));
    // dL/da = dL/d(ab) * b; dL/dc_k = y for every k.
    let d_ab = 15.0 * (1.0 - t * t);
    assert!(close(number(&l[4], "grad").unwrap(), 15.0));
    assert!(close(number(&l[3], "grad").unwrap(), d_ab), "{}", l[3]);
    assert!(
        close(number(&l[0], "grad").unwrap(), d_ab * -3.0),
        "{}",
        l[0]
    );
    assert!(l[5].contains("grad min 1.0000 max 1.0000"), "{}", l[5]);
    let param_grad = l[2].lines().find(|s| s.starts_with("grad ")).unwrap();
    let ends: Vec<f64> = param_grad
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        ends.len() == 2 && ends.iter().all(|&g| close(g, t)),
        "{param_grad}"
    );
    // The constant gets no gradient at all.
    assert_eq!(number(&l[1], "grad"), None);

    // Edges from parent to child, one per input.
    for edge in ["n0 -> n3", "n1 -> n3", "n3 -> n4", "n2 -> n5", "n4 -> n5"] {
        assert!(dot.contains(edge), "missing {edge}:\n{dot}");
    }
    assert_eq!(dot.matches("->").count(), 5);
    // Each kind of leaf, and ops, look different.
    let (var, constant, param, op) = (look(&dot, 0), look(&dot, 1), look(&dot, 2), look(&dot, 3));
    assert!(var != constant && var != param && constant != param);
    assert!(op != var && op != constant && op != param);
    render_if_graphviz_is_installed(&dot);
}

#[test]
fn dot_before_backward_has_no_gradients() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(1.5));
    let _ = x.exp();
    let dot = tape.to_dot();
    assert!(!dot.contains("grad"));
    assert_eq!(dot.matches("->").count(), 1);
    assert_balanced(&dot);
    render_if_graphviz_is_installed(&dot);
}

#[test]
fn without_retain_grads_only_leaves_keep_gradients() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(3.0));
    let y = x * x;
    let _ = (y * 2.0).backward();
    // d(2x^2)/dx = 4x = 12
    assert_eq!(x.retained_grad().unwrap().item(), 12.0);
    assert!(y.retained_grad().is_none());
    assert_eq!(tape.to_dot().matches("grad").count(), 1);
}

#[test]
fn retain_grads_keeps_every_intermediate_gradient() {
    let tape = Tape::<f64>::new();
    tape.retain_grads();
    let x = tape.var(Tensor::scalar(3.0));
    let y = x * x;
    let z = y * 2.0;
    let _ = z.backward();
    // z = 2y, y = x^2: dz/dz = 1, dz/dy = 2, dz/dx = 2 * 2x = 12
    assert_eq!(z.retained_grad().unwrap().item(), 1.0);
    assert_eq!(y.retained_grad().unwrap().item(), 2.0);
    assert_eq!(x.retained_grad().unwrap().item(), 12.0);
}

#[test]
fn dot_labels_flag_a_nan_hidden_in_a_large_value() {
    let tape = Tape::<f64>::new();
    let _ = tape.constant(tensor![1.0, f64::NAN, -2.0, 3.0, 0.5]);
    let l = label(&tape.to_dot(), 0);
    assert!(l.ends_with("value min -2.0000 max 3.0000 (and nan)"), "{l}");
}

//! User-defined differentiable functions (`tape::Function`, `Tape::call`):
//! values and gradients against hand derivations, `gradcheck`, derivatives
//! of derivatives through a rule written on the tape (`gradgradcheck`),
//! forward mode (`jvpcheck`), and the panics for what a function lacks or
//! gets wrong.

use tapegrad::check::{gradcheck, gradgradcheck, jvpcheck};
use tapegrad::tape::{BackwardCtx, Function, GraphCtx, JvpCtx};
use tapegrad::{Tape, Tensor, Var, tensor};

/// `y = x / (1 + |x|)`, `y' = 1 / (1 + |x|)²`, with all three rules.
struct Softsign;

impl Function<f64> for Softsign {
    fn name(&self) -> &'static str {
        "softsign"
    }
    fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
        inputs[0].map(|x| x / (1.0 + x.abs()))
    }
    fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
        let d = ctx.input(0).map(|x| 1.0 / (1.0 + x.abs()).powi(2));
        ctx.add(0, ctx.grad_out() * &d);
    }
    fn backward_on_tape(&self, ctx: &mut GraphCtx<'_, '_, f64>) {
        let x = ctx.input(0);
        let g = ctx.grad_out() / (x.abs() + 1.0).square();
        ctx.add(0, g);
    }
    fn jvp(&self, ctx: &JvpCtx<'_, f64>) -> Tensor<f64> {
        let d = ctx.input(0).map(|x| 1.0 / (1.0 + x.abs()).powi(2));
        &ctx.tangent_or_zeros(0) * &d
    }
}

/// A function that mixes elements: `y = A x` for a matrix `A` the
/// function carries and a matrix `x` of shape `[n, k]`; `∂/∂x = Aᵀ g`.
/// `transposed_rule` gives that gradient transposed (`gᵀ A`, shape
/// `[k, n]`): as many elements, in the wrong places.
struct MatVec {
    a: Tensor<f64>,
    transposed_rule: bool,
}

impl Function<f64> for MatVec {
    fn name(&self) -> &'static str {
        "matvec"
    }
    fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
        self.a.matmul(inputs[0])
    }
    fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
        let g = self.a.transpose(0, 1).matmul(ctx.grad_out());
        if self.transposed_rule {
            ctx.add(0, g.transpose(0, 1));
        } else {
            ctx.add(0, g);
        }
    }
    fn backward_on_tape(&self, ctx: &mut GraphCtx<'_, '_, f64>) {
        let at = ctx.constant(self.a.transpose(0, 1));
        let g = at.matmul(ctx.grad_out());
        ctx.add(0, g);
    }
}

/// Two inputs: `y = x ⊙ w` with hand-written rules, to see both inputs'
/// gradients and the un-broadcast of a `w` of shape `[3]` against `x`'s `[2, 3]`.
struct Product;

impl Function<f64> for Product {
    fn name(&self) -> &'static str {
        "product"
    }
    fn forward(&self, inputs: &[&Tensor<f64>]) -> Tensor<f64> {
        inputs[0] * inputs[1]
    }
    fn backward(&self, ctx: &mut BackwardCtx<'_, f64>) {
        if ctx.needs(0) {
            ctx.add(0, ctx.grad_out() * ctx.input(1));
        }
        if ctx.needs(1) {
            // A [2, 3] gradient for a [3] input: the engine sums it back.
            ctx.add(1, ctx.grad_out() * ctx.input(0));
        }
    }
}

fn softsign<'t>(x: Var<'t, f64>) -> Var<'t, f64> {
    x.tape().call(Softsign, &[x])
}

fn points() -> Tensor<f64> {
    tensor![[-2.0, -0.5, 0.25], [3.0, 0.75, -1.25]]
}

#[test]
fn a_call_gives_the_forward_value_and_the_rules_gradient() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, -3.0]);
    let y = softsign(x);
    // 1 / 2 and -3 / 4; derivatives 1 / 4 and 1 / 16.
    assert_eq!(y.value().to_vec(), [0.5, -0.75]);
    let grads = (y * 2.0).sum().backward();
    assert_eq!(grads.wrt(x).to_vec(), [0.5, 0.125]);
}

#[test]
fn gradcheck_passes_for_correct_rules_of_one_and_two_inputs() {
    gradcheck(|v| softsign(v[0]), &[points()]).unwrap();
    fn matvec<'t>(v: &[Var<'t, f64>]) -> Var<'t, f64> {
        let f = MatVec {
            a: tensor![[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]],
            transposed_rule: false,
        };
        v[0].tape().call(f, &[v[0]])
    }
    gradcheck(matvec, &[tensor![[0.3], [-1.2], [2.0]]]).unwrap();
    let report = gradcheck(
        |v| v[0].tape().call(Product, &[v[0], v[1]]),
        &[points(), tensor![1.5, -0.5, 2.0]],
    )
    .unwrap();
    assert_eq!(report.checked, 9);
}

#[test]
fn the_broadcast_input_gets_its_gradient_summed_back() {
    let tape = Tape::<f64>::new();
    let x = tape.var(points());
    let w = tape.var(tensor![1.5, -0.5, 2.0]);
    let grads = tape.call(Product, &[x, w]).sum().backward();
    // d/dw_j sum_i x_ij w_j = sum_i x_ij.
    assert_eq!(grads.wrt(w).to_vec(), [1.0, 0.25, -1.0]);
    assert_eq!(grads.wrt(x).to_vec(), [1.5, -0.5, 2.0, 1.5, -0.5, 2.0]);
}

#[test]
#[should_panic(
    expected = "matvec: its backward rule gave input %0 a gradient of shape [2, 3], \
                           but the input has shape [3, 2]"
)]
fn a_gradient_of_the_wrong_shape_panics_naming_the_function_and_both_shapes() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![[0.3, 1.0], [-1.2, 0.5], [2.0, -2.0]]);
    let f = MatVec {
        a: tensor![[1.0, 2.0, -1.0], [0.5, -3.0, 2.0]],
        transposed_rule: true,
    };
    let _ = tape.call(f, &[x]).sum().backward();
}

#[test]
fn a_rule_written_on_the_tape_gives_second_derivatives() {
    gradgradcheck(|v| softsign(v[0]), &[points()]).unwrap();
    // By hand at x = 1: y'' = -2 sign(x) / (1 + |x|)³ = -1/4.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(1.0));
    let dy = tape.grad(softsign(x), &[x])[0];
    let d2y = tape.grad(dy, &[x])[0];
    assert_eq!((dy.item(), d2y.item()), (0.25, -0.25));
    // A linear function: the Hessian of sum((A x)²) = 2 AᵀA.
    let a = tensor![[1.0, 2.0], [0.0, -1.0]];
    let h = tapegrad::func::hessian(
        |x| {
            let f = MatVec {
                a: a.clone(),
                transposed_rule: false,
            };
            x.tape().call(f, &[x]).square().sum()
        },
        &tensor![[0.5], [2.0]],
    );
    assert_eq!(h.to_vec(), [2.0, 4.0, 4.0, 10.0]);
}

#[test]
fn a_jvp_rule_gives_forward_mode() {
    jvpcheck(|v| softsign(v[0]), &[points()]).unwrap();
    let tape = Tape::<f64>::new();
    let x = tape.dual(tensor![1.0, -3.0], tensor![2.0, 1.0]);
    // y' v = (1/4) 2, (1/16) 1.
    assert_eq!(softsign(x).tangent().to_vec(), [0.5, 0.0625]);
}

#[test]
#[should_panic(expected = "tape.grad: the gradient of product (%2) cannot be recorded")]
fn a_function_without_a_recorded_rule_panics_in_tape_grad_naming_itself() {
    let tape = Tape::<f64>::new();
    let x = tape.var(tensor![1.0, 2.0]);
    let w = tape.constant(tensor![3.0, 4.0]);
    let y = tape.call(Product, &[x, w]).sum();
    let _ = tape.grad(y, &[x]);
}

#[test]
#[should_panic(expected = "forward mode: matvec has no forward-mode rule")]
fn a_function_without_a_jvp_rule_panics_in_forward_mode_naming_itself() {
    let tape = Tape::<f64>::new();
    let x = tape.dual(tensor![[1.0], [2.0]], tensor![[1.0], [0.0]]);
    let f = MatVec {
        a: tensor![[1.0, 2.0]],
        transposed_rule: false,
    };
    let _ = tape.call(f, &[x]);
}

#[test]
fn calls_print_their_name_and_are_forgotten_at_reset() {
    let mut tape = Tape::<f64>::new();
    {
        let x = tape.var(tensor![1.0]);
        let _ = softsign(x);
        assert!(tape.to_string().contains("softsign"), "{tape}");
    }
    tape.reset();
    let x = tape.var(tensor![0.5]);
    // The next recording's first call is checked against its own rule.
    let y = softsign(x);
    let g = y.backward();
    assert_eq!(g.wrt(x).item(), 1.0 / 2.25);
}

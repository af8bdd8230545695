//! The tables the elementwise families are written in: [`unary_ops!`] for
//! ops of one input (`unary.rs`, `scalar.rs`) and [`binary_ops!`] for ops of
//! two (`binary.rs`).
//!
//! An elementwise op is a name, a formula per element and a derivative, so
//! each op is one entry of its family's table, and the macro writes the
//! rest from the entries: the family's enum, its `Display` (the name that
//! printed tapes, DOT output and profiles show), `forward` on tensors, the
//! `backward` rule the tape runs, and (for ops of one input) the `Var`
//! method that records the op. Nothing about an op is anywhere but in its
//! entry.
//!
//! A unary entry:
//!
//! ```text
//! /// `e^x`. Derivative: `e^x` (the output itself).   <- docs: method and variant
//! pub fn exp() -> Exp {                                <- the Var method, the variant
//!     name: "exp",                                     <- printed name
//!     forward: |x| x.exp(),                            <- one element
//!     backward: |g, _x, out| g * out,                  <- tensors: grad_out, input, output
//! }
//! ```
//!
//! The method takes the variant's arguments (`pub fn clamp(min: f64, max:
//! f64) -> Clamp` makes `Clamp(f64, f64)` and `x.clamp(min, max)`); an op
//! reached otherwise (an operator, `gelu_with`) has a private method, which
//! is how the operator records it. The forward formula runs on each element
//! (the macro wraps it in one `map`, which vectorises). The backward rule is
//! an expression over `&Tensor`s that gives the input's gradient, usually
//! `g ⊙ f'` through [`chain`]: `chain(g, x, |x| c(2.0) * x)` for a
//! derivative of the input, `chain(g, out, |y| T::ONE - y * y)` for one of
//! the output (`tanh`), which then needs nothing but the node's own value.
//!
//! A binary entry has no method (vars reach these ops through `+ - * /`,
//! named by an optional `operator:` line, and through methods written under
//! the table) and one gradient per input, each computed only if that input
//! needs one:
//!
//! ```text
//! /// `a * b`. Derivatives: `b` and `a`.
//! Mul {
//!     name: "mul",
//!     operator: Mul::mul,
//!     forward: |a, b| a * b,
//!     grad a: |g, _a, b, _out| g * b,
//!     grad b: |g, a, _b, _out| g * a,
//! }
//! ```
//!
//! Gradients are computed at the broadcast output shape: the tape sums each
//! back to its input's shape, so no entry mentions broadcasting.
//!
//! # Further rules go into the same entries
//!
//! Every rule here is linear in `g` and acts element by element (the
//! Jacobian is diagonal), so the same expression with a tangent `t` in
//! place of `g` is the forward-mode (JVP) rule: the macro can generate
//! `jvp` from `backward` with no new line in any entry. A backward that
//! records on the tape (for gradients of gradients) is one more field per
//! entry, say `on_tape: |g, x, out| g * out` over vars, turned into one more
//! generated match here.

use crate::tensor::{Float, Tensor};
use std::fmt;

/// `g ⊙ f(v)` element by element: the chain rule for an elementwise op,
/// with `f` its derivative written in terms of `v` (the input, or the
/// output when that is cheaper).
///
/// `f` is a generic closure, inlined into the loop (which vectorises),
/// rather than a `&dyn Fn` called once per element.
#[inline(always)]
pub(super) fn chain<T: Float, F: Fn(T) -> T + Sync + Copy>(
    g: &Tensor<T>,
    v: &Tensor<T>,
    f: F,
) -> Tensor<T> {
    g.zip_map(v, "backward", |g, v| g * f(v))
}

/// Writes an op's scalar arguments as printed tapes show them: `[0.01]`,
/// `[-1, 1]`.
pub(super) fn write_args(f: &mut fmt::Formatter<'_>, args: &[f64]) -> fmt::Result {
    f.write_str("[")?;
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    f.write_str("]")
}

/// Defines an elementwise family of one input from its table; see the
/// module docs for the entry format.
///
/// The header names the enum, the [`Op`](crate::ops::Op) variant that wraps
/// it, the crate-internal method that records an op of it, and a shorthand
/// for constants in the rules (`let c = T::from_f64;`).
macro_rules! unary_ops {
    (
        $(#[$enum_doc:meta])*
        pub enum $Enum:ident: Op::$Family:ident, recorded by Var::$record:ident;
        let $c:ident = T::from_f64;
        $(
            $(#[$doc:meta])*
            $vis:vis fn $method:ident ( $( $($arg:ident : $ty:ty),+ )? ) -> $Variant:ident {
                name: $name:literal,
                forward: |$x:ident| $forward:expr,
                backward: |$g:ident, $bx:ident, $by:ident| $backward:expr,
                on_tape: |$tg:ident, $tx:ident, $tout:ident| $on_tape:expr $(,)?
            }
        )*
    ) => {
        $(#[$enum_doc])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub enum $Enum {
            $(
                $(#[$doc])*
                $Variant $( ( $($ty),+ ) )?,
            )*
        }

        impl $Enum {
            /// The op's name in messages, printed tapes and profiles.
            pub fn name(self) -> &'static str {
                match self {
                    $( $Enum::$Variant { .. } => $name, )*
                }
            }

            /// Computes the op on a tensor, element by element.
            #[allow(unused_variables)]
            pub fn forward<T: $crate::tensor::Float>(
                self,
                x: &$crate::tensor::Tensor<T>,
            ) -> $crate::tensor::Tensor<T> {
                let $c = T::from_f64;
                match self {
                    $( $Enum::$Variant $( ( $($arg),+ ) )? => x.map(|$x| $forward), )*
                }
            }

            /// Adds the input's share of the gradient (`g ⊙ f'` per element).
            #[allow(unused_variables)]
            pub(crate) fn backward<T: $crate::tensor::Float>(
                self,
                ctx: &mut $crate::tape::BackwardCtx<'_, T>,
            ) {
                let $c = T::from_f64;
                let dx = match self {
                    $(
                        $Enum::$Variant $( ( $($arg),+ ) )? => {
                            let ($g, $bx, $by) = (ctx.grad_out(), ctx.input(0), ctx.output());
                            $backward
                        }
                    )*
                };
                ctx.add(0, dx);
            }

            /// The gradient rule recorded on the tape, over vars (for
            /// [`Tape::grad`](crate::Tape::grad)).
            #[allow(unused_variables)]
            pub(crate) fn backward_on_tape<T: $crate::tensor::Float>(
                self,
                ctx: &mut $crate::tape::GraphCtx<'_, '_, T>,
            ) {
                let $c = T::from_f64;
                let dx = match self {
                    $(
                        $Enum::$Variant $( ( $($arg),+ ) )? => {
                            let ($tg, $tx, $tout) = (ctx.grad_out(), ctx.input(0), ctx.output());
                            $on_tape
                        }
                    )*
                };
                ctx.add(0, dx);
            }

            /// The forward-mode rule: the backward rule with the tangent in
            /// place of the gradient (`J` is diagonal, so `J t = t ⊙ f'`).
            #[allow(unused_variables)]
            pub(crate) fn jvp<T: $crate::tensor::Float>(
                self,
                ctx: &$crate::tape::JvpCtx<'_, T>,
            ) -> $crate::tensor::Tensor<T> {
                let $c = T::from_f64;
                let t = ctx.tangent(0).expect("jvp is asked only where an input has a tangent");
                match self {
                    $(
                        $Enum::$Variant $( ( $($arg),+ ) )? => {
                            let ($g, $bx, $by) = (t, ctx.input(0), ctx.output());
                            $backward
                        }
                    )*
                }
            }
        }

        impl std::fmt::Display for $Enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match *self {
                    $(
                        $Enum::$Variant $( ( $($arg),+ ) )? => {
                            f.write_str($name)?;
                            $( $crate::ops::elementwise::write_args(f, &[$($arg),+])?; )?
                            Ok(())
                        }
                    )*
                }
            }
        }

        impl<'t, T: $crate::tensor::Float> $crate::tape::Var<'t, T> {
            /// Records `op` applied to this var.
            pub(crate) fn $record(self, op: $Enum) -> $crate::tape::Var<'t, T> {
                self.tape
                    .apply($crate::ops::Op::$Family(op), &[self], |v| op.forward(v[0]))
            }
        }

        $(
            impl<'t, T: $crate::tensor::Float> $crate::tape::Var<'t, T> {
                $(#[$doc])*
                $vis fn $method(self $( $(, $arg: $ty)+ )?) -> $crate::tape::Var<'t, T> {
                    self.$record($Enum::$Variant $( ( $($arg),+ ) )?)
                }
            }
        )*
    };
}
pub(super) use unary_ops;

/// Defines an elementwise family of two inputs from its table; see the
/// module docs for the entry format.
macro_rules! binary_ops {
    (
        $(#[$enum_doc:meta])*
        pub enum $Enum:ident: Op::$Family:ident, recorded by Var::$record:ident;
        $(
            $(#[$doc:meta])*
            $Variant:ident {
                name: $name:literal,
                $( operator: $Trait:ident :: $op_method:ident, )?
                forward: |$a:ident, $b:ident| $forward:expr,
                grad a: |$g0:ident, $a0:ident, $b0:ident, $y0:ident| $grad_a:expr,
                grad b: |$g1:ident, $a1:ident, $b1:ident, $y1:ident| $grad_b:expr,
                on_tape a: |$h0:ident, $p0:ident, $q0:ident, $z0:ident| $tape_a:expr,
                on_tape b: |$h1:ident, $p1:ident, $q1:ident, $z1:ident| $tape_b:expr $(,)?
            }
        )*
    ) => {
        $(#[$enum_doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $Enum {
            $( $(#[$doc])* $Variant, )*
        }

        impl $Enum {
            /// The op's name in messages, printed tapes and profiles.
            pub fn name(self) -> &'static str {
                match self {
                    $( $Enum::$Variant => $name, )*
                }
            }

            /// Computes the op on two tensors, element by element, broadcasting.
            ///
            /// # Panics
            /// If the shapes do not broadcast (the message names the op and
            /// both shapes).
            pub fn forward<T: $crate::tensor::Float>(
                self,
                a: &$crate::tensor::Tensor<T>,
                b: &$crate::tensor::Tensor<T>,
            ) -> $crate::tensor::Tensor<T> {
                match self {
                    $( $Enum::$Variant => a.zip_map(b, $name, |$a, $b| $forward), )*
                }
            }

            /// Adds each input's share of the gradient, skipping inputs that
            /// need none.
            pub(crate) fn backward<T: $crate::tensor::Float>(
                self,
                ctx: &mut $crate::tape::BackwardCtx<'_, T>,
            ) {
                match self {
                    $(
                        $Enum::$Variant => {
                            if ctx.needs(0) {
                                let ($g0, $a0, $b0, $y0) =
                                    (ctx.grad_out(), ctx.input(0), ctx.input(1), ctx.output());
                                let da = $grad_a;
                                ctx.add(0, da);
                            }
                            if ctx.needs(1) {
                                let ($g1, $a1, $b1, $y1) =
                                    (ctx.grad_out(), ctx.input(0), ctx.input(1), ctx.output());
                                let db = $grad_b;
                                ctx.add(1, db);
                            }
                        }
                    )*
                }
            }

            /// The gradient rules recorded on the tape, over vars (for
            /// [`Tape::grad`](crate::Tape::grad)).
            #[allow(unused_variables)]
            pub(crate) fn backward_on_tape<T: $crate::tensor::Float>(
                self,
                ctx: &mut $crate::tape::GraphCtx<'_, '_, T>,
            ) {
                match self {
                    $(
                        $Enum::$Variant => {
                            if ctx.needs(0) {
                                let ($h0, $p0, $q0, $z0) =
                                    (ctx.grad_out(), ctx.input(0), ctx.input(1), ctx.output());
                                let da = $tape_a;
                                ctx.add(0, da);
                            }
                            if ctx.needs(1) {
                                let ($h1, $p1, $q1, $z1) =
                                    (ctx.grad_out(), ctx.input(0), ctx.input(1), ctx.output());
                                let db = $tape_b;
                                ctx.add(1, db);
                            }
                        }
                    )*
                }
            }

            /// The forward-mode rule: each input's backward rule with its
            /// tangent in place of the gradient (each is linear in the
            /// gradient and elementwise), broadcast to the output and summed.
            #[allow(unused_variables)]
            pub(crate) fn jvp<T: $crate::tensor::Float>(
                self,
                ctx: &$crate::tape::JvpCtx<'_, T>,
            ) -> $crate::tensor::Tensor<T> {
                let out_shape = ctx.output().shape();
                let fit = |t: $crate::tensor::Tensor<T>| {
                    if t.shape() == out_shape { t } else { t.broadcast_to(out_shape) }
                };
                let (ta, tb) = (ctx.tangent(0), ctx.tangent(1));
                match self {
                    $(
                        $Enum::$Variant => {
                            let da = ta.map(|$g0| {
                                let ($a0, $b0, $y0) = (ctx.input(0), ctx.input(1), ctx.output());
                                fit($grad_a)
                            });
                            let db = tb.map(|$g1| {
                                let ($a1, $b1, $y1) = (ctx.input(0), ctx.input(1), ctx.output());
                                fit($grad_b)
                            });
                            match (da, db) {
                                (Some(mut da), Some(db)) => {
                                    da.add_assign(&db);
                                    da
                                }
                                (Some(d), None) | (None, Some(d)) => d,
                                (None, None) => unreachable!("jvp is asked only where an input has a tangent"),
                            }
                        }
                    )*
                }
            }
        }

        impl std::fmt::Display for $Enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl<'t, T: $crate::tensor::Float> $crate::tape::Var<'t, T> {
            /// Records `op` applied to this var and `other`.
            pub(crate) fn $record(
                self,
                op: $Enum,
                other: $crate::tape::Var<'t, T>,
            ) -> $crate::tape::Var<'t, T> {
                self.tape.apply($crate::ops::Op::$Family(op), &[self, other], |v| {
                    op.forward(v[0], v[1])
                })
            }
        }

        $($(
            impl<'t, T: $crate::tensor::Float> std::ops::$Trait<$crate::tape::Var<'t, T>>
                for $crate::tape::Var<'t, T>
            {
                type Output = $crate::tape::Var<'t, T>;
                /// The elementwise op, with NumPy broadcasting.
                ///
                /// # Panics
                /// If the shapes do not broadcast (the message names the op
                /// and both shapes), or if the vars are on two different tapes.
                fn $op_method(self, rhs: $crate::tape::Var<'t, T>) -> $crate::tape::Var<'t, T> {
                    self.$record($Enum::$Variant, rhs)
                }
            }
        )?)*
    };
}
pub(super) use binary_ops;

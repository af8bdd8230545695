//! Activation functions as layers, for [`Sequential`](super::Sequential):
//! [`Relu`], [`Tanh`], [`Sigmoid`], [`Gelu`], [`GeluTanh`], [`Silu`],
//! [`LeakyRelu`], [`Elu`], [`Softplus`].
//!
//! Each applies its op element by element: any input shape, the output has
//! the same shape. None has parameters (so nothing to initialise) and none
//! panics. Each is PyTorch's layer of the same name; the derivatives are
//! documented on the [`Var`] methods they call.

use super::Forward;
use crate::ops::GeluApprox;
use crate::tape::Var;
use crate::tensor::Float;

/// `impl Module<T>` for every float `T`, visiting nothing, for layers
/// without parameters. (`#[derive(Module)]` on a struct without a float
/// type parameter would give only `Module<f32>`.)
macro_rules! impl_module_without_params {
    ($($ty:ty),* $(,)?) => {$(
        /// Holds no parameters.
        #[diagnostic::do_not_recommend]
        impl<T: $crate::Float> $crate::Module<T> for $ty {
            fn visit<'a>(
                &'a self,
                _prefix: &str,
                _f: &mut dyn FnMut(&str, &'a $crate::Param<T>),
            ) {
            }

            fn visit_mut<'a>(
                &'a mut self,
                _prefix: &str,
                _f: &mut dyn FnMut(&str, &'a mut $crate::Param<T>),
            ) {
            }
        }
    )*};
}
pub(crate) use impl_module_without_params;

/// A unit-struct activation: the struct, its empty `Module` and its
/// `Forward` through one `Var` method.
macro_rules! unit_activation {
    ($(#[$doc:meta])* $name:ident => |$x:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name;

        impl_module_without_params!($name);

        impl<T: Float> Forward<T> for $name {
            fn forward<'t>(&self, $x: Var<'t, T>) -> Var<'t, T> {
                $body
            }
        }
    };
}

unit_activation! {
    /// `max(x, 0)`, as PyTorch's `nn.ReLU`.
    Relu => |x| x.relu()
}

unit_activation! {
    /// `tanh x`, as PyTorch's `nn.Tanh`.
    Tanh => |x| x.tanh()
}

unit_activation! {
    /// `1 / (1 + e^-x)`, as PyTorch's `nn.Sigmoid`.
    Sigmoid => |x| x.sigmoid()
}

unit_activation! {
    /// `x Phi(x)` with the exact normal CDF `Phi`, as PyTorch's `nn.GELU()`.
    /// For the tanh approximation use [`GeluTanh`].
    Gelu => |x| x.gelu_with(GeluApprox::None)
}

unit_activation! {
    /// GELU's tanh approximation,
    /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, as PyTorch's
    /// `nn.GELU(approximate="tanh")`.
    GeluTanh => |x| x.gelu_with(GeluApprox::Tanh)
}

unit_activation! {
    /// `x sigmoid(x)` (swish), as PyTorch's `nn.SiLU`.
    Silu => |x| x.silu()
}

unit_activation! {
    /// `ln(1 + e^x)`, as PyTorch's `nn.Softplus()` (with its default
    /// `beta = 1`), computed without overflow.
    Softplus => |x| x.softplus()
}

/// `x` where positive, else `slope * x`, as PyTorch's `nn.LeakyReLU`.
/// The default slope is PyTorch's, 0.01.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyRelu(pub f64);

impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu(0.01)
    }
}

impl_module_without_params!(LeakyRelu);

impl<T: Float> Forward<T> for LeakyRelu {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        x.leaky_relu(self.0)
    }
}

/// `x` where positive, else `alpha (e^x - 1)`, as PyTorch's `nn.ELU`.
/// The default `alpha` is PyTorch's, 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu(pub f64);

impl Default for Elu {
    fn default() -> Self {
        Elu(1.0)
    }
}

impl_module_without_params!(Elu);

impl<T: Float> Forward<T> for Elu {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        x.elu(self.0)
    }
}

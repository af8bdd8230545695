//! [`Sequential`]: layers applied one after another.

use super::{Forward, Layer, with_child_name};
use crate::Module;
use crate::nn::Param;
use crate::tape::Var;
use crate::tensor::{Float, Tensor};
use std::fmt;
use std::ops::{Index, IndexMut};

/// A stack of boxed layers applied in order, as PyTorch's `nn.Sequential`:
/// `y = f_{k-1}(... f_1(f_0(x)))`.
///
/// Parameters are named by position, as in PyTorch: the first layer's
/// weight is `0.weight`, the third's bias `2.bias` (layers without
/// parameters, such as activations, keep their number). Each layer keeps
/// its own default init. Shapes: whatever the layers make of them.
///
/// ```
/// use tapegrad::nn::{Forward, Linear, Relu, Sequential};
/// use tapegrad::{Module, Tape, Tensor};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mlp = Sequential::<f32>::new()
///     .add(Linear::new(4, 16, &mut rng))
///     .add(Relu)
///     .add(Linear::new(16, 2, &mut rng));
/// assert!(mlp.param_by_name("2.bias").is_some());
/// let tape = Tape::new();
/// let y = mlp.forward(tape.constant(Tensor::zeros(&[8, 4])));
/// assert_eq!(y.shape().as_slice(), &[8, 2]);
/// println!("{mlp:?}"); // Sequential[Linear, Relu, Linear]
/// ```
///
/// # Panics
/// Indexing past the end panics; `forward` panics where a layer does.
pub struct Sequential<T: Float = f32> {
    layers: Vec<Box<dyn Layer<T>>>,
    /// Each layer's type name, for `Debug`.
    kinds: Vec<&'static str>,
}

impl<T: Float> Sequential<T> {
    /// No layers yet (its forward is the identity).
    pub fn new() -> Self {
        Sequential {
            layers: Vec::new(),
            kinds: Vec::new(),
        }
    }

    /// The same stack with `layer` appended.
    // Not `ops::Add`: the operand is any layer, not a `Sequential`, and the
    // builder chain `Sequential::new().add(..).add(..)` reads as intended.
    #[allow(clippy::should_implement_trait)]
    pub fn add<L: Layer<T> + 'static>(mut self, layer: L) -> Self {
        self.push(layer);
        self
    }

    /// Appends `layer`.
    pub fn push<L: Layer<T> + 'static>(&mut self, layer: L) {
        self.kinds.push(short_type_name::<L>());
        self.layers.push(Box::new(layer));
    }

    /// The number of layers (with or without parameters).
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layer at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&dyn Layer<T>> {
        self.layers.get(index).map(|l| &**l)
    }

    /// The layers in order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Layer<T>> {
        self.layers.iter().map(|l| &**l)
    }
}

/// `tapegrad::nn::linear::Linear<f32>` as `Linear`.
fn short_type_name<L>() -> &'static str {
    let full = std::any::type_name::<L>();
    let path = full.split('<').next().unwrap_or(full);
    path.rsplit("::").next().unwrap_or(path)
}

impl<T: Float> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> Index<usize> for Sequential<T> {
    type Output = dyn Layer<T>;

    fn index(&self, index: usize) -> &Self::Output {
        &*self.layers[index]
    }
}

impl<T: Float> IndexMut<usize> for Sequential<T> {
    fn index_mut(&mut self, index: usize) -> &mut Self::Output {
        &mut *self.layers[index]
    }
}

impl<T: Float> fmt::Debug for Sequential<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sequential[{}]", self.kinds.join(", "))
    }
}

/// Layer `i`'s parameters and buffers are visited under `i`: `0.weight`,
/// `2.bias`, `1.running_mean`, ...
#[diagnostic::do_not_recommend]
impl<T: Float> Module<T> for Sequential<T> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        for (i, layer) in self.layers.iter().enumerate() {
            with_child_name(prefix, i, |name| layer.visit(name, f));
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            with_child_name(prefix, i, |name| layer.visit_mut(name, f));
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        for (i, layer) in self.layers.iter().enumerate() {
            with_child_name(prefix, i, |name| layer.visit_buffers(name, f));
        }
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            with_child_name(prefix, i, |name| layer.visit_buffers_mut(name, f));
        }
    }
}

impl<T: Float> Forward<T> for Sequential<T> {
    fn forward<'t>(&self, x: Var<'t, T>) -> Var<'t, T> {
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }
}

//! [`Module`]: anything that holds [`Param`]s, visited by dotted name.
//!
//! A module implements two visitors, one over `&Param` and one over
//! `&mut Param`, each handed a name prefix; everything else (listing,
//! counting, freezing, looking up by name, the [`ModuleSummary`] table,
//! saving, loading and optimisers) is built on those two. Two more
//! visitors, with do-nothing defaults, reach the module's *buffers*: state
//! that is saved and loaded with the weights but never trained, such as a
//! batch-norm layer's running statistics. `#[derive(Module)]` writes all
//! four for a struct.

use super::Param;
use super::summary::{BufferRow, ModuleSummary, ParamRow};
use crate::tensor::{Float, Tensor};
use std::cell::RefCell;
use std::fmt::{Display, Write};
use std::marker::PhantomData;

/// The derive macro: see [`macro@Module`].
pub use autograd_macros::Module;

/// Something that holds parameters: a layer, a model, or a collection of
/// either.
///
/// Implementors write the two visitors; every other method is provided.
/// Each parameter is visited under its dotted path: a struct field's name,
/// a `Vec` or array element's index, joined with `.` by [`child_name`]
/// (built in a reused buffer by [`with_child_name`]). A
/// [`Param`] is a leaf visited under the prefix it is given; `Option` and
/// `Box` add nothing to the path (`None` holds no parameters).
///
/// Write `#[derive(Module)]` rather than implementing it by hand:
///
/// ```
/// use tapegrad::{Module, Param, Tensor};
///
/// #[derive(Module)]
/// struct Linear {
///     weight: Param,
///     bias: Option<Param>,
/// }
///
/// #[derive(Module)]
/// struct Mlp {
///     layers: Vec<Linear>,
///     #[module(skip)]
///     hidden: usize,
/// }
///
/// let linear = |i: usize, o: usize| Linear {
///     weight: Param::new("weight", Tensor::zeros(&[o, i])),
///     bias: Some(Param::new("bias", Tensor::zeros(&[o]))),
/// };
/// let mut mlp = Mlp { layers: vec![linear(2, 8), linear(8, 1)], hidden: 8 };
/// assert_eq!(mlp.num_params(), (16 + 8) + (8 + 1));
/// assert!(mlp.param_by_name("layers.1.bias").is_some());
///
/// mlp.set_trainable_where(|name| name.starts_with("layers.0."), false);
/// assert!(!mlp.layers[0].weight.is_trainable());
/// print!("{}", mlp.summary());
/// ```
///
/// By hand, a module calls each child's visitor under the child's name:
///
/// ```
/// use tapegrad::{Float, Module, Param};
/// use tapegrad::nn::with_child_name;
///
/// struct Scale<T: Float> {
///     gain: Param<T>,
/// }
///
/// #[diagnostic::do_not_recommend]
/// impl<T: Float> Module<T> for Scale<T> {
///     fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
///         with_child_name(prefix, "gain", |name| self.gain.visit(name, f));
///     }
///     fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
///         with_child_name(prefix, "gain", |name| self.gain.visit_mut(name, f));
///     }
/// }
/// ```
///
/// # Buffers
///
/// A buffer is a tensor a module keeps and needs, that is not trained: it
/// has no gradient, no optimiser sees it and it is not counted in
/// [`num_params`](Module::num_params), but it is saved and loaded with the
/// parameters under its dotted name (PyTorch's `register_buffer`). The
/// running mean and variance of [`BatchNorm1d`](crate::nn::BatchNorm1d)
/// are buffers (`bn.running_mean`, `bn.running_var`), and so is its batch
/// count (`bn.num_batches_tracked`, a scalar: see
/// [`is_counter`](crate::nn::is_counter)), all under PyTorch's names. A module with buffers
/// overrides [`visit_buffers`](Module::visit_buffers) and
/// [`visit_buffers_mut`](Module::visit_buffers_mut); every other module
/// keeps their empty defaults, and containers and derived impls forward
/// them to their children, so a hand-written impl without buffers of its
/// own needs to write them only if it holds modules that might have some.
///
/// ```
/// use tapegrad::nn::BatchNorm1d;
/// use tapegrad::Module;
///
/// #[derive(Module)]
/// struct Net {
///     bn: BatchNorm1d,
/// }
///
/// let net = Net { bn: BatchNorm1d::new(3) };
/// let names: Vec<String> = net.named_buffers().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]);
/// assert_eq!(net.num_params(), 6); // weight and bias only
/// assert_eq!(net.num_buffers(), 7); // 3 means, 3 variances, the batch count
/// ```
///
/// The trait is dyn-compatible: `Box<dyn Module>` is itself a module with
/// every method.
///
/// Every impl in the crate, and every derived one, carries
/// `#[diagnostic::do_not_recommend]`: that keeps the error for a field that
/// is not a module down to the field and its type, instead of a list of
/// every module the compiler knows. Hand-written impls should do the same.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a module of `{T}` parameters",
    label = "`{Self}` does not implement `Module<{T}>`",
    note = "a struct field that holds plain data (sizes, flags) needs `#[module(skip)]`"
)]
pub trait Module<T: Float = f32> {
    /// Calls `f(name, param)` for every parameter, in a fixed order, where
    /// `name` is the parameter's dotted path below `prefix` (pass `""` at
    /// the top).
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>));

    /// Like [`visit`](Module::visit), with mutable access to each parameter,
    /// in the same order and under the same names.
    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>));

    /// Calls `f(name, buffer)` for every buffer (see [Buffers](#buffers)),
    /// in a fixed order, under its dotted path below `prefix`.
    ///
    /// The default visits nothing: right for a module whose only state is
    /// its parameters. A module that holds child modules forwards this to
    /// each child under the child's name, as for [`visit`](Module::visit).
    ///
    /// The reference lives only for the call, so that a buffer kept behind
    /// a lock (as a batch-norm layer's are, to be updated in `forward`) can
    /// be visited.
    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        let _ = (prefix, f);
    }

    /// Like [`visit_buffers`](Module::visit_buffers), with mutable access
    /// to each buffer, in the same order and under the same names (loading
    /// writes buffers through this).
    ///
    /// A buffer's shape is part of its module's invariants: replace a
    /// buffer only with a tensor of the same shape.
    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        let _ = (prefix, f);
    }

    /// Every buffer with its dotted path, in visiting order. The tensors are
    /// copies that share storage with the module's (no data is copied), so
    /// they keep the values of the moment they were taken.
    fn named_buffers(&self) -> Vec<(String, Tensor<T>)> {
        let mut out = Vec::new();
        self.visit_buffers("", &mut |name, b| out.push((name.to_owned(), b.clone())));
        out
    }

    /// The number of scalars in all buffers (like
    /// [`num_params`](Module::num_params), which does not count them).
    fn num_buffers(&self) -> usize {
        let mut n = 0;
        self.visit_buffers("", &mut |_, b| n += b.numel());
        n
    }

    /// A copy (sharing storage) of the buffer with this dotted path, if
    /// there is one.
    fn buffer_by_name(&self, name: &str) -> Option<Tensor<T>> {
        let mut found = None;
        self.visit_buffers("", &mut |n, b| {
            if found.is_none() && n == name {
                found = Some(b.clone());
            }
        });
        found
    }

    /// Every parameter, in visiting order.
    fn parameters(&self) -> Vec<&Param<T>> {
        let mut out = Vec::new();
        self.visit("", &mut |_, p| out.push(p));
        out
    }

    /// Every parameter, mutably, in visiting order.
    fn parameters_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut out = Vec::new();
        self.visit_mut("", &mut |_, p| out.push(p));
        out
    }

    /// Every parameter with its dotted path, in visiting order.
    fn named_parameters(&self) -> Vec<(String, &Param<T>)> {
        let mut out = Vec::new();
        self.visit("", &mut |name, p| out.push((name.to_owned(), p)));
        out
    }

    /// The number of scalars in all parameters, trainable or not.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, p| n += p.value().numel());
        n
    }

    /// Makes every parameter non-trainable (no gradient, optimisers skip it).
    fn freeze(&mut self) {
        self.visit_mut("", &mut |_, p| p.set_trainable(false));
    }

    /// Makes every parameter trainable.
    fn unfreeze(&mut self) {
        self.visit_mut("", &mut |_, p| p.set_trainable(true));
    }

    /// Sets `trainable` on each parameter whose dotted path satisfies
    /// `select`, leaving the others as they are.
    ///
    /// ```
    /// # use tapegrad::{Module, Param, Tensor};
    /// # #[derive(Module)]
    /// # struct Net { body: Vec<Param>, head: Param }
    /// # let mut net = Net { body: vec![Param::new("w", Tensor::zeros(&[2]))], head: Param::new("h", Tensor::zeros(&[1])) };
    /// // fine-tune only the head
    /// net.freeze();
    /// net.set_trainable_where(|name| name.starts_with("head"), true);
    /// assert!(net.head.is_trainable() && !net.body[0].is_trainable());
    /// ```
    fn set_trainable_where<F: FnMut(&str) -> bool>(&mut self, mut select: F, trainable: bool)
    where
        Self: Sized,
    {
        self.visit_mut("", &mut |name, p| {
            if select(name) {
                p.set_trainable(trainable);
            }
        });
    }

    /// The parameter with this dotted path, if there is one.
    fn param_by_name(&self, name: &str) -> Option<&Param<T>> {
        let mut found = None;
        self.visit("", &mut |n, p| {
            if found.is_none() && n == name {
                found = Some(p);
            }
        });
        found
    }

    /// The parameter with this dotted path, mutably, if there is one.
    fn param_by_name_mut(&mut self, name: &str) -> Option<&mut Param<T>> {
        let mut found = None;
        self.visit_mut("", &mut |n, p| {
            if found.is_none() && n == name {
                found = Some(p);
            }
        });
        found
    }

    /// Sets each parameter's own [`name`](Param::name) to its dotted path,
    /// so that it reads the same wherever the parameter is shown on its own.
    fn name_parameters(&mut self) {
        self.visit_mut("", &mut |name, p| p.set_name(name));
    }

    /// Every parameter and buffer by dotted name (PyTorch's
    /// `state_dict`). The tensors share storage with the model's, so this
    /// copies no data, and they keep the values of the moment they were
    /// taken: a snapshot to put back later with
    /// [`load_state`](Module::load_state).
    ///
    /// # Panics
    /// If two parameters or buffers share a dotted name (a hand-written
    /// impl's mistake; derived impls cannot make one).
    ///
    /// ```
    /// use tapegrad::nn::{LoadOptions, Linear};
    /// use tapegrad::{Module, Tensor};
    /// use rand::SeedableRng;
    ///
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let mut fc: Linear = Linear::new(3, 2, &mut rng);
    /// let before = fc.state();
    /// assert_eq!(before.keys().collect::<Vec<_>>(), ["bias", "weight"]);
    ///
    /// *fc.weight.value_mut() = Tensor::zeros(&[2, 3]);
    /// let report = fc.load_state(&before, LoadOptions::default())?;
    /// assert!(report.is_exact());
    /// assert_eq!(fc.weight.value(), &before["weight"]);
    /// # Ok::<(), tapegrad::nn::LoadStateError>(())
    /// ```
    fn state(&self) -> super::StateMap<T> {
        super::state::state_of(self)
    }

    /// Sets parameters and buffers from `state` by dotted name, checking
    /// everything before writing anything: under the default (strict)
    /// options the map must hold exactly the model's names, and every
    /// tensor must have its parameter's or buffer's shape. With
    /// `allow_missing` names the map lacks keep their values; with
    /// `allow_unexpected` keys the model lacks are skipped. Values replace
    /// the tensors (sharing the map's storage); ids, names and `trainable`
    /// flags stay. This is the in-memory counterpart of
    /// [`load_safetensors_with`](crate::io::load_safetensors_with), and the
    /// one routine the loaders build on.
    ///
    /// # Errors
    /// [`LoadStateError`](super::LoadStateError) `Missing`, then
    /// `Unexpected`, then the first `Shape` mismatch (or `Count`: a batch
    /// counter that is not a whole number from 0) in visiting order; the
    /// model is then unchanged, bit for bit.
    ///
    /// A parameter the map lacks is read from its name in earlier versions
    /// of tapegrad ([`legacy_name`](crate::nn::legacy_name)) if the map has
    /// that; a batch counter the map lacks keeps its value
    /// ([`LoadReport::counters_kept`](crate::nn::LoadReport::counters_kept)).
    fn load_state(
        &mut self,
        state: &super::StateMap<T>,
        opts: super::LoadOptions,
    ) -> Result<super::LoadReport, super::LoadStateError> {
        super::state::load_state(self, state, opts)
    }

    /// A table of every parameter (dotted path, shape, scalar count,
    /// trainable) with the totals, then every buffer; print it with `{}`.
    fn summary(&self) -> ModuleSummary {
        let mut rows = Vec::new();
        self.visit("", &mut |name, p| {
            rows.push(ParamRow {
                name: name.to_owned(),
                shape: p.shape().to_vec(),
                numel: p.value().numel(),
                trainable: p.is_trainable(),
            })
        });
        let mut buffers = Vec::new();
        self.visit_buffers("", &mut |name, b| {
            buffers.push(BufferRow {
                name: name.to_owned(),
                shape: b.shape().to_vec(),
                numel: b.numel(),
            })
        });
        ModuleSummary { rows, buffers }
    }
}

/// The dotted path of a child called `name` inside a module visited under
/// `prefix`: `"name"` at the top (empty prefix), `"prefix.name"` below.
///
/// ```
/// use tapegrad::nn::child_name;
/// assert_eq!(child_name("", "fc"), "fc");
/// assert_eq!(child_name("blocks.0", "attn"), "blocks.0.attn");
/// assert_eq!(child_name("layers", 3), "layers.3");
/// ```
///
/// This allocates a new `String`; visitors use [`with_child_name`], which
/// builds the same path in a reused buffer.
pub fn child_name(prefix: &str, name: impl Display) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

thread_local! {
    /// The buffers [`with_child_name`] writes paths into: one per nesting
    /// level in use, taken off the end and put back after the call, so a
    /// level gets the same buffer (with the capacity it grew to) each time.
    static NAME_BUFFERS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Calls `f` with the dotted path of a child called `name` inside a module
/// visited under `prefix` (the same string [`child_name`] returns), and
/// returns what `f` returns.
///
/// The path is written into a per-thread buffer that is reused from one
/// call to the next, so once a model has been visited once, visiting it
/// again allocates nothing, however deep it nests: this is how the derived
/// impls, the containers and the layers build their names, which keeps an
/// optimiser step free of heap allocations.
///
/// ```
/// use tapegrad::nn::with_child_name;
/// let len = with_child_name("blocks.0", "attn", |path| {
///     assert_eq!(path, "blocks.0.attn");
///     path.len()
/// });
/// assert_eq!(len, 13);
/// with_child_name("", 3, |path| assert_eq!(path, "3"));
/// ```
pub fn with_child_name<R>(prefix: &str, name: impl Display, f: impl FnOnce(&str) -> R) -> R {
    // A buffer of this level's own: the caller's `prefix` may be the
    // enclosing level's buffer, which stays out of the pool meanwhile.
    let mut path = NAME_BUFFERS
        .try_with(|pool| pool.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    path.clear();
    if !prefix.is_empty() {
        path.push_str(prefix);
        path.push('.');
    }
    write!(path, "{name}").expect("writing to a String cannot fail");
    let out = f(&path);
    // During thread teardown the pool may be gone; the buffer is then
    // simply dropped.
    let _ = NAME_BUFFERS.try_with(|pool| pool.borrow_mut().push(path));
    out
}

/// A parameter is a leaf: it is visited once, under the prefix itself.
#[diagnostic::do_not_recommend]
impl<T: Float> Module<T> for Param<T> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        f(prefix, self);
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        f(prefix, self);
    }
}

/// Elements are named by their index: `layers.0`, `layers.1`, ...
#[diagnostic::do_not_recommend]
impl<T: Float, M: Module<T>> Module<T> for Vec<M> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        for (i, m) in self.iter().enumerate() {
            with_child_name(prefix, i, |name| m.visit(name, f));
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        for (i, m) in self.iter_mut().enumerate() {
            with_child_name(prefix, i, |name| m.visit_mut(name, f));
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        for (i, m) in self.iter().enumerate() {
            with_child_name(prefix, i, |name| m.visit_buffers(name, f));
        }
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        for (i, m) in self.iter_mut().enumerate() {
            with_child_name(prefix, i, |name| m.visit_buffers_mut(name, f));
        }
    }
}

/// Elements are named by their index, as for `Vec`.
#[diagnostic::do_not_recommend]
impl<T: Float, M: Module<T>, const N: usize> Module<T> for [M; N] {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        for (i, m) in self.iter().enumerate() {
            with_child_name(prefix, i, |name| m.visit(name, f));
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        for (i, m) in self.iter_mut().enumerate() {
            with_child_name(prefix, i, |name| m.visit_mut(name, f));
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        for (i, m) in self.iter().enumerate() {
            with_child_name(prefix, i, |name| m.visit_buffers(name, f));
        }
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        for (i, m) in self.iter_mut().enumerate() {
            with_child_name(prefix, i, |name| m.visit_buffers_mut(name, f));
        }
    }
}

/// `Some(m)` is visited as `m`, under the same prefix; `None` holds nothing.
#[diagnostic::do_not_recommend]
impl<T: Float, M: Module<T>> Module<T> for Option<M> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        if let Some(m) = self {
            m.visit(prefix, f);
        }
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        if let Some(m) = self {
            m.visit_mut(prefix, f);
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        if let Some(m) = self {
            m.visit_buffers(prefix, f);
        }
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        if let Some(m) = self {
            m.visit_buffers_mut(prefix, f);
        }
    }
}

/// Visited as the boxed module, under the same prefix; `Box<dyn Module>`
/// included.
#[diagnostic::do_not_recommend]
impl<T: Float, M: Module<T> + ?Sized> Module<T> for Box<M> {
    fn visit<'a>(&'a self, prefix: &str, f: &mut dyn FnMut(&str, &'a Param<T>)) {
        (**self).visit(prefix, f);
    }

    fn visit_mut<'a>(&'a mut self, prefix: &str, f: &mut dyn FnMut(&str, &'a mut Param<T>)) {
        (**self).visit_mut(prefix, f);
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(&str, &Tensor<T>)) {
        (**self).visit_buffers(prefix, f);
    }

    fn visit_buffers_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut Tensor<T>)) {
        (**self).visit_buffers_mut(prefix, f);
    }
}

/// Holds no parameters, so a `PhantomData` marker field needs no
/// `#[module(skip)]`.
#[diagnostic::do_not_recommend]
impl<T: Float, X: ?Sized> Module<T> for PhantomData<X> {
    fn visit<'a>(&'a self, _prefix: &str, _f: &mut dyn FnMut(&str, &'a Param<T>)) {}

    fn visit_mut<'a>(&'a mut self, _prefix: &str, _f: &mut dyn FnMut(&str, &'a mut Param<T>)) {}
}

#[cfg(test)]
mod tests {
    use crate::{Module, Param, Tensor};

    // The derive's `::tapegrad` paths resolve inside the crate too (through
    // `extern crate self as tapegrad`), as the crate's own layers need.
    #[derive(Module)]
    struct Inside {
        w: Param,
        rest: Vec<Param>,
    }

    #[test]
    fn derive_works_inside_the_crate() {
        let m = Inside {
            w: Param::new("w", Tensor::zeros(&[2])),
            rest: vec![Param::new("r", Tensor::zeros(&[3]))],
        };
        let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["w", "rest.0"]);
    }
}

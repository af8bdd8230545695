//! `#[derive(Module)]` for [tapegrad](https://docs.rs/tapegrad).
//!
//! Use it through the re-export `tapegrad::Module`, which names both the
//! trait and this derive (as `serde::Serialize` does). The generated code
//! refers to `::tapegrad`, so this crate is of no use on its own.
//!
//! How it is built:
//! - `fields.rs` reads the struct: which float type the parameters hold,
//!   which fields are modules, which are plain data, and what each field's
//!   name in a dotted path is;
//! - `expand.rs` writes the `impl Module` from that.

use proc_macro::TokenStream;

mod expand;
mod fields;

/// Implements `tapegrad::Module` for a struct whose fields are modules.
///
/// Every field is visited as a module (a `Param`, a layer, or a `Vec`,
/// `Option`, `Box` or array of them) unless it is marked `#[module(skip)]`,
/// which is for plain data such as sizes and flags. A field's name in the
/// dotted path is its own name, or its index in a tuple struct, so a
/// parameter deep inside a model is called, say, `blocks.0.attn.qkv.weight`.
/// The buffer visitors (`visit_buffers`, `visit_buffers_mut`) are forwarded
/// to the same fields under the same names, so a batch-norm layer's running
/// mean inside `net.body` is the buffer `body.running_mean`.
///
/// ```
/// use tapegrad::{Module, Param, Tensor};
///
/// #[derive(Module)]
/// struct Affine {
///     weight: Param,
///     bias: Option<Param>,
///     #[module(skip)]
///     features: usize,
/// }
///
/// #[derive(Module)]
/// struct Net {
///     layers: Vec<Affine>,
/// }
///
/// let affine = |n: usize| Affine {
///     weight: Param::new("weight", Tensor::zeros(&[n, n])),
///     bias: Some(Param::new("bias", Tensor::zeros(&[n]))),
///     features: n,
/// };
/// let net = Net { layers: vec![affine(2), affine(3)] };
/// let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]);
/// assert_eq!(net.num_params(), 4 + 2 + 9 + 3);
/// ```
///
/// # The float type
/// The impl is `Module<F>` where `F` is, in order of precedence:
/// 1. the type named by `#[module(float = F)]` on the struct;
/// 2. the struct's type parameter bounded by `Float`
///    (`struct Net<T: Float> { fc: Linear<T> }` gives `Module<T>`);
/// 3. otherwise `f32`, the crate's default (`Linear` means `Linear<f32>`).
///
/// # Generic fields
/// A field whose type mentions one of the struct's other type parameters
/// (`inner: M`, `blocks: Vec<B>`) adds a bound `FieldType: Module<F>` to
/// the impl, so `struct Net<M> { inner: M }` is a module whenever `M` is.
/// Every other field is checked where the struct is defined: a field type
/// that is not a module is a compile error pointing at that field.
///
/// # Not supported
/// Enums and unions: which parameters an enum holds depends on its variant,
/// so write `impl Module` by hand for them (visit the active variant's
/// fields).
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    fields::ModuleStruct::read(&input)
        .map(|s| expand::impl_module(&s))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

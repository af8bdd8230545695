//! Writing the `impl Module` for a struct read by `fields.rs`.

use crate::fields::{ModuleField, ModuleStruct};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, parse_quote_spanned};

/// The impl: the parameter visitors and the buffer visitors each call the
/// same visitor of each module field in turn, under the field's name
/// appended to the prefix (written by `tapegrad::nn::with_child_name` into
/// a reused buffer, so that a warm visit allocates nothing).
///
/// Each call is written `<FieldType as Module<F>>::visit(...)` and spanned
/// at the field's type, so that a field that is not a module is reported
/// there.
pub(crate) fn impl_module(s: &ModuleStruct) -> TokenStream {
    let ModuleStruct {
        ident,
        generics,
        float,
        fields,
    } = s;

    let mut generics = (*generics).clone();
    let bounded: Vec<&ModuleField> = fields.iter().filter(|f| f.needs_bound).collect();
    if !bounded.is_empty() {
        let clause = generics.make_where_clause();
        for field in bounded {
            let ty = field.ty;
            clause
                .predicates
                .push(parse_quote_spanned!(ty.span()=> #ty: ::tapegrad::Module<#float>));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // An empty struct uses neither argument; underscores keep it warning-free.
    let (prefix, f) = if fields.is_empty() {
        ("_prefix", "_f")
    } else {
        ("prefix", "f")
    };
    let prefix = Ident::new(prefix, Span::call_site());
    let f = Ident::new(f, Span::call_site());

    let calls = |method: &str, borrow: TokenStream| -> Vec<TokenStream> {
        let method = Ident::new(method, Span::call_site());
        fields
            .iter()
            .map(|field| {
                let ModuleField {
                    member, name, ty, ..
                } = field;
                quote_spanned! {ty.span()=>
                    ::tapegrad::nn::with_child_name(#prefix, #name, |__name| {
                        <#ty as ::tapegrad::Module<#float>>::#method(
                            #borrow self.#member,
                            __name,
                            #f,
                        )
                    });
                }
            })
            .collect()
    };
    let visits = calls("visit", quote!(&));
    let visits_mut = calls("visit_mut", quote!(&mut));
    let buffer_visits = calls("visit_buffers", quote!(&));
    let buffer_visits_mut = calls("visit_buffers_mut", quote!(&mut));

    quote! {
        #[automatically_derived]
        #[diagnostic::do_not_recommend]
        impl #impl_generics ::tapegrad::Module<#float> for #ident #ty_generics #where_clause {
            fn visit<'__module>(
                &'__module self,
                #prefix: &str,
                #f: &mut dyn FnMut(&str, &'__module ::tapegrad::Param<#float>),
            ) {
                #(#visits)*
            }

            fn visit_mut<'__module>(
                &'__module mut self,
                #prefix: &str,
                #f: &mut dyn FnMut(&str, &'__module mut ::tapegrad::Param<#float>),
            ) {
                #(#visits_mut)*
            }

            fn visit_buffers(
                &self,
                #prefix: &str,
                #f: &mut dyn FnMut(&str, &::tapegrad::Tensor<#float>),
            ) {
                #(#buffer_visits)*
            }

            fn visit_buffers_mut(
                &mut self,
                #prefix: &str,
                #f: &mut dyn FnMut(&str, &mut ::tapegrad::Tensor<#float>),
            ) {
                #(#buffer_visits_mut)*
            }
        }
    }
}

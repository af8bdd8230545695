//! Reading the struct: its float type, its module fields and their names.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use std::collections::HashSet;
use syn::ext::IdentExt;
use syn::visit::Visit;
use syn::{
    Data, DeriveInput, Error, Generics, Ident, Member, Result, Type, TypeParamBound, WherePredicate,
};

/// What the code generator needs to know about the struct.
pub(crate) struct ModuleStruct<'a> {
    /// The struct's name.
    pub ident: &'a Ident,
    /// The struct's generics, as written.
    pub generics: &'a Generics,
    /// The float type of the parameters: `f32`, a concrete type from
    /// `#[module(float = ...)]`, or a type parameter bounded by `Float`.
    pub float: TokenStream,
    /// The fields to visit, in declaration order (skipped fields are left out).
    pub fields: Vec<ModuleField<'a>>,
}

/// One field that is visited as a module.
pub(crate) struct ModuleField<'a> {
    /// How to reach it: `self.#member`.
    pub member: Member,
    /// Its segment in a dotted path: the field's name or its index.
    pub name: String,
    /// Its type, whose span error messages point at.
    pub ty: &'a Type,
    /// Whether the type mentions one of the struct's type parameters other
    /// than the float one, so that the impl must require it to be a module.
    pub needs_bound: bool,
}

impl<'a> ModuleStruct<'a> {
    /// Classifies the struct's fields, or says why it cannot derive `Module`.
    pub fn read(input: &'a DeriveInput) -> Result<Self> {
        let data = match &input.data {
            Data::Struct(data) => data,
            Data::Enum(e) => {
                let (kw, ident) = (&e.enum_token, &input.ident);
                return Err(Error::new_spanned(
                    quote!(#kw #ident),
                    "#[derive(Module)] works on structs, not enums: which parameters an enum \
                     holds depends on its variant; implement `Module` by hand and visit the \
                     active variant's fields",
                ));
            }
            Data::Union(u) => {
                let (kw, ident) = (&u.union_token, &input.ident);
                return Err(Error::new_spanned(
                    quote!(#kw #ident),
                    "#[derive(Module)] works on structs, not unions: only one field of a union \
                     is valid at a time, so its parameters cannot be visited safely",
                ));
            }
        };

        let float_attr = container_float(input)?;
        let type_params: Vec<&Ident> = input.generics.type_params().map(|p| &p.ident).collect();
        let float_param = match float_attr {
            Some(_) => None,
            None => float_type_param(&input.generics)?,
        };
        let float = match (&float_attr, float_param) {
            (Some(ty), _) => ty.to_token_stream(),
            (None, Some(param)) => param.to_token_stream(),
            (None, None) => quote!(f32),
        };
        // A field that mentions only the float parameter (`Param<T>`) is a
        // module or not whatever `T` is, so it is checked at the definition;
        // one that mentions another parameter (`M`) is a module only for some
        // arguments, so it becomes a bound on the impl.
        let float_ident = match &float_attr {
            Some(Type::Path(p)) if p.qself.is_none() => p.path.get_ident(),
            Some(_) => None,
            None => float_param,
        };
        let other_params: HashSet<&Ident> = type_params
            .into_iter()
            .filter(|p| Some(*p) != float_ident)
            .collect();

        let mut fields = Vec::new();
        for (index, field) in data.fields.iter().enumerate() {
            if field_is_skipped(field)? {
                continue;
            }
            let (member, name) = match &field.ident {
                Some(ident) => (Member::Named(ident.clone()), ident.unraw().to_string()),
                None => (Member::Unnamed(index.into()), index.to_string()),
            };
            let needs_bound = mentions_any(&field.ty, &other_params);
            fields.push(ModuleField {
                member,
                name,
                ty: &field.ty,
                needs_bound,
            });
        }
        Ok(ModuleStruct {
            ident: &input.ident,
            generics: &input.generics,
            float,
            fields,
        })
    }
}

/// The type in `#[module(float = F)]` on the struct, if any.
fn container_float(input: &DeriveInput) -> Result<Option<Type>> {
    let mut float = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("float") {
                if float.is_some() {
                    return Err(meta.error("`float` is given twice"));
                }
                float = Some(meta.value()?.parse::<Type>()?);
                Ok(())
            } else if meta.path.is_ident("skip") {
                Err(meta.error("`#[module(skip)]` goes on a field, not on the struct"))
            } else {
                Err(meta.error(
                    "unknown `module` option on a struct: expected `float = f32` or `float = f64`",
                ))
            }
        })?;
    }
    Ok(float)
}

/// Whether a field carries `#[module(skip)]`.
fn field_is_skipped(field: &syn::Field) -> Result<bool> {
    let mut skip = false;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else if meta.path.is_ident("float") {
                Err(meta.error("`#[module(float = ...)]` goes on the struct, not on a field"))
            } else {
                Err(meta.error("unknown `module` option on a field: expected `skip`"))
            }
        })?;
    }
    Ok(skip)
}

/// The struct's type parameter bounded by `Float` (inline or in the where
/// clause), if there is exactly one; an error if there are several.
fn float_type_param(generics: &Generics) -> Result<Option<&Ident>> {
    let is_float = |bound: &TypeParamBound| match bound {
        TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == "Float"),
        _ => false,
    };
    let mut found: Vec<&Ident> = generics
        .type_params()
        .filter(|p| p.bounds.iter().any(is_float))
        .map(|p| &p.ident)
        .collect();
    if let Some(clause) = &generics.where_clause {
        for pred in &clause.predicates {
            if let WherePredicate::Type(pt) = pred
                && pt.bounds.iter().any(is_float)
                && let Type::Path(tp) = &pt.bounded_ty
                && let Some(ident) = tp.path.get_ident()
                && let Some(param) = generics.type_params().find(|p| p.ident == *ident)
                && !found.contains(&&param.ident)
            {
                found.push(&param.ident);
            }
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        [_, second, ..] => Err(Error::new_spanned(
            second,
            "more than one type parameter is bounded by `Float`: say which one the \
             parameters hold with `#[module(float = T)]` on the struct",
        )),
    }
}

/// Whether `ty` names any of `params` (as `M`, `Vec<M>`, `M::Output`, ...).
fn mentions_any(ty: &Type, params: &HashSet<&Ident>) -> bool {
    struct Finder<'p, 'i> {
        params: &'p HashSet<&'i Ident>,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_, '_> {
        fn visit_path(&mut self, path: &'ast syn::Path) {
            if path.leading_colon.is_none()
                && let Some(first) = path.segments.first()
                && self.params.contains(&first.ident)
            {
                self.found = true;
            }
            syn::visit::visit_path(self, path);
        }
    }
    if params.is_empty() {
        return false;
    }
    let mut finder = Finder {
        params,
        found: false,
    };
    finder.visit_type(ty);
    finder.found
}

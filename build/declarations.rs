//! What cbindgen reads of a file of `src/ffi/`: the file with each entry point that an
//! `ffi_fn!` or `stub!` invocation (or `add_fn!`/`get_fn!`, the typed-parameter forms of
//! `ffi_fn!`) declares rewritten into the bare declaration, as cbindgen does not expand
//! macros.
//!
//! These macros all start alike: attributes (documentation included), an optional `@form`
//! marker and `fn` keyword, the C name, the arguments and an optional return type. That
//! is all a header needs; what follows is the macro's business and is dropped here.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{parenthesized, Attribute, Ident, Item, ReturnType, Token, Type};

/// The macros whose invocations declare entry points.
const ENTRY_MACROS: &[&str] = &["ffi_fn", "stub", "add_fn", "get_fn"];

/// The text of `source` with the entry-point macros replaced by plain
/// `#[no_mangle] pub unsafe extern "C" fn` declarations with empty bodies.
pub fn rewrite(source: &str) -> syn::Result<String> {
    let mut file = syn::parse_file(source)?;
    for item in &mut file.items {
        let Item::Macro(m) = item else { continue };
        if ENTRY_MACROS.iter().any(|name| m.mac.path.is_ident(name)) {
            let entry: Entry = m.mac.parse_body()?;
            *item = syn::parse2(entry.declaration())?;
        }
    }
    Ok(quote!(#file).to_string())
}

/// The part of an entry-point macro invocation that a header shows.
struct Entry {
    attrs: Vec<Attribute>,
    name: Ident,
    args: Punctuated<Arg, Token![,]>,
    ret: ReturnType,
}

struct Arg {
    name: Ident,
    ty: Type,
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        Ok(Arg {
            name,
            ty: input.parse()?,
        })
    }
}

impl Parse for Entry {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        if input.peek(Token![@]) {
            input.parse::<Token![@]>()?;
            input.parse::<Ident>()?;
        }
        if input.peek(Token![fn]) {
            input.parse::<Token![fn]>()?;
        }
        let name = input.parse()?;
        let content;
        parenthesized!(content in input);
        let args = content.parse_terminated(Arg::parse, Token![,])?;
        let ret = input.parse()?;
        input.parse::<TokenStream>()?;
        Ok(Entry {
            attrs,
            name,
            args,
            ret,
        })
    }
}

impl Entry {
    fn declaration(&self) -> TokenStream {
        let Entry {
            attrs, name, ret, ..
        } = self;
        let args = self.args.iter().map(|Arg { name, ty }| quote!(#name: #ty));
        quote! {
            #(#attrs)*
            #[no_mangle]
            pub unsafe extern "C" fn #name(#(#args),*) #ret {}
        }
    }
}

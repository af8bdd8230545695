//! `Module` and `#[derive(Module)]`: dotted names, counts, freezing, lookup
//! and the summary table, on nested, generic and tuple structs.

use std::marker::PhantomData;
use tapegrad::nn::child_name;
use tapegrad::{Float, Module, Param, Tensor};

#[derive(Module)]
struct Linear<T: Float = f32> {
    weight: Param<T>,
    bias: Option<Param<T>>,
    #[module(skip)]
    in_features: usize,
}

fn linear<T: Float>(i: usize, o: usize, bias: bool) -> Linear<T> {
    Linear {
        weight: Param::new("weight", Tensor::zeros(&[o, i])),
        bias: bias.then(|| Param::new("bias", Tensor::zeros(&[o]))),
        in_features: i,
    }
}

#[derive(Module)]
struct Attention {
    qkv: Linear,
    proj: Linear,
}

#[derive(Module)]
struct Block {
    attn: Attention,
    mlp: [Linear; 2],
    #[module(skip)]
    dropout: f32,
}

#[derive(Module)]
struct Gpt {
    embed: Param,
    blocks: Vec<Block>,
    head: Box<Linear>,
    adapter: Option<Linear>,
    #[module(skip)]
    vocab: usize,
}

/// d = 4 wide, vocabulary of 5: embed [5, 4]; per block qkv 4 -> 12, proj
/// 4 -> 4, mlp 4 -> 8 -> 4 (all with bias); head 4 -> 5 without bias.
fn gpt(blocks: usize) -> Gpt {
    let block = || Block {
        attn: Attention {
            qkv: linear(4, 12, true),
            proj: linear(4, 4, true),
        },
        mlp: [linear(4, 8, true), linear(8, 4, true)],
        dropout: 0.1,
    };
    Gpt {
        embed: Param::new("embed", Tensor::zeros(&[5, 4])),
        blocks: (0..blocks).map(|_| block()).collect(),
        head: Box::new(linear(4, 5, false)),
        adapter: None,
        vocab: 5,
    }
}

fn names<T: Float, M: Module<T>>(m: &M) -> Vec<String> {
    m.named_parameters().into_iter().map(|(n, _)| n).collect()
}

#[test]
fn nested_struct_names_are_dotted_paths_in_field_order() {
    let model = gpt(2);
    let mut expected = vec!["embed".to_owned()];
    for b in 0..2 {
        for layer in ["attn.qkv", "attn.proj", "mlp.0", "mlp.1"] {
            expected.push(format!("blocks.{b}.{layer}.weight"));
            expected.push(format!("blocks.{b}.{layer}.bias"));
        }
    }
    // the head has no bias and the adapter is None: neither adds names
    expected.push("head.weight".to_owned());
    assert_eq!(names(&model), expected);
    assert_eq!(model.vocab + model.head.in_features, 9);
    assert_eq!(model.blocks[0].dropout, 0.1);
}

#[test]
fn counts_add_up_every_scalar() {
    let mut model = gpt(2);
    // per block: qkv 4*12 + 12, proj 4*4 + 4, mlp 4*8 + 8 and 8*4 + 4
    let block = (48 + 12) + (16 + 4) + (32 + 8) + (32 + 4);
    let base = 5 * 4 + 2 * block + 4 * 5;
    assert_eq!(model.num_params(), base);
    assert_eq!(model.parameters().len(), 1 + 2 * 8 + 1);

    // an adapter that is Some is visited under the field name, Option adds nothing
    model.adapter = Some(linear(4, 4, true));
    assert_eq!(model.num_params(), base + 16 + 4);
    let n = names(&model);
    assert_eq!(&n[n.len() - 2..], ["adapter.weight", "adapter.bias"]);
}

#[test]
fn both_visitors_agree_on_order_and_names() {
    let mut model = gpt(1);
    let shared: Vec<(String, _)> = model
        .named_parameters()
        .into_iter()
        .map(|(n, p)| (n, p.id()))
        .collect();
    let mut seen = Vec::new();
    model.visit_mut("", &mut |n, p| seen.push((n.to_owned(), p.id())));
    assert_eq!(shared, seen);
    let ids: Vec<_> = model.parameters_mut().iter().map(|p| p.id()).collect();
    assert_eq!(ids, shared.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    // all distinct: each field holds its own parameter
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len());
}

#[test]
fn a_prefix_is_prepended_to_every_name() {
    let model = gpt(1);
    let mut got = Vec::new();
    model.visit("model", &mut |n, _| got.push(n.to_owned()));
    assert_eq!(got[0], "model.embed");
    assert_eq!(got[1], "model.blocks.0.attn.qkv.weight");
    assert_eq!(got.last().unwrap(), "model.head.weight");
}

#[test]
fn a_param_is_a_leaf_named_by_its_prefix() {
    let p = Param::new("w", Tensor::<f32>::zeros(&[2, 3]));
    assert_eq!(names(&p), [""]);
    let mut got = Vec::new();
    p.visit("w", &mut |n, q| got.push((n.to_owned(), q.id())));
    assert_eq!(got, [("w".to_owned(), p.id())]);
    assert_eq!(p.num_params(), 6);
}

#[test]
fn collections_name_elements_by_index() {
    let v: Vec<Param> = (0..3)
        .map(|_| Param::new("p", Tensor::zeros(&[1])))
        .collect();
    assert_eq!(names(&v), ["0", "1", "2"]);
    let a: [Linear; 2] = [linear(1, 1, false), linear(1, 1, true)];
    assert_eq!(names(&a), ["0.weight", "1.weight", "1.bias"]);
    let nested: Vec<Vec<Param>> = vec![vec![], v];
    assert_eq!(names(&nested), ["1.0", "1.1", "1.2"]);
    let none: Option<Linear> = None;
    assert!(names(&none).is_empty());
    let boxed: Box<Linear> = Box::new(linear(2, 2, true));
    assert_eq!(names(&boxed), ["weight", "bias"]);
    assert_eq!(child_name("", 7), "7");
}

#[test]
fn boxed_trait_objects_are_modules() {
    let mut layers: Vec<Box<dyn Module>> = vec![
        Box::new(linear(2, 3, true)),
        Box::new(Param::new("scale", Tensor::ones(&[3]))),
    ];
    assert_eq!(names(&layers), ["0.weight", "0.bias", "1"]);
    assert_eq!(layers.num_params(), 6 + 3 + 3);
    layers.set_trainable_where(|n| n.starts_with("0."), false);
    let flags: Vec<bool> = layers
        .parameters()
        .iter()
        .map(|p| p.is_trainable())
        .collect();
    assert_eq!(flags, [false, false, true]);
}

// ---- generics ----

/// Generic over the float type: the derive finds `T: Float`.
#[derive(Module)]
struct Mlp<T: Float> {
    layers: Vec<Linear<T>>,
    gain: Param<T>,
}

/// The float parameter bounded in a where clause, next to a lifetime and a
/// const parameter.
#[derive(Module)]
struct Stack<'a, T, const N: usize>
where
    T: Float,
{
    layers: [Linear<T>; N],
    #[module(skip)]
    label: &'a str,
}

/// Generic over the inner module: a module whenever `M` is one.
#[derive(Module)]
struct Residual<M> {
    inner: M,
    scale: Param,
}

/// Generic over both; several modules of the same generic type.
#[derive(Module)]
struct Pair<T: Float, A, B> {
    left: A,
    right: Vec<B>,
    _float: PhantomData<T>,
}

/// Concrete f64 parameters without a type parameter: named explicitly.
#[derive(Module)]
#[module(float = f64)]
struct Probe {
    w: Param<f64>,
    head: Linear<f64>,
}

/// Two float parameters: the attribute says which one the parameters hold.
#[derive(Module)]
#[module(float = A)]
struct TwoFloats<A: Float, B: Float> {
    a: Param<A>,
    b: PhantomData<B>,
}

#[test]
fn generic_over_the_float_type() {
    let m = Mlp::<f64> {
        layers: vec![linear(3, 2, true), linear(2, 1, false)],
        gain: Param::new("gain", Tensor::ones(&[])),
    };
    assert_eq!(
        names(&m),
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "gain"
        ]
    );
    // the 0-d gain counts as one scalar
    assert_eq!(m.num_params(), 6 + 2 + 2 + 1);
    let p: &Param<f64> = m.param_by_name("gain").unwrap();
    assert_eq!(p.value().item(), 1.0);

    let s = Stack::<f32, 3> {
        layers: [linear(1, 2, true), linear(2, 2, false), linear(2, 1, true)],
        label: "stack",
    };
    assert_eq!(
        names(&s),
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.2.weight",
            "layers.2.bias"
        ]
    );
    assert_eq!(s.label, "stack");

    let two = TwoFloats::<f32, f64> {
        a: Param::new("a", Tensor::zeros(&[2])),
        b: PhantomData,
    };
    assert_eq!(names(&two), ["a"]);
}

#[test]
fn generic_over_the_inner_module() {
    let r = Residual {
        inner: linear(2, 2, true),
        scale: Param::new("scale", Tensor::ones(&[1])),
    };
    assert_eq!(names(&r), ["inner.weight", "inner.bias", "scale"]);
    // nesting a generic module in itself
    let rr = Residual {
        inner: r,
        scale: Param::new("scale", Tensor::ones(&[1])),
    };
    assert_eq!(
        names(&rr),
        [
            "inner.inner.weight",
            "inner.inner.bias",
            "inner.scale",
            "scale"
        ]
    );

    let pair = Pair::<f64, Param<f64>, Linear<f64>> {
        left: Param::new("l", Tensor::zeros(&[2])),
        right: vec![linear(1, 1, false)],
        _float: PhantomData,
    };
    assert_eq!(names(&pair), ["left", "right.0.weight"]);

    let probe = Probe {
        w: Param::new("w", Tensor::zeros(&[2])),
        head: linear(2, 1, true),
    };
    assert_eq!(names(&probe), ["w", "head.weight", "head.bias"]);
}

// ---- tuple, unit and odd names ----

#[derive(Module)]
struct Tuple(Linear, #[module(skip)] usize, Param);

#[derive(Module)]
struct Unit;

#[derive(Module)]
struct Empty {}

#[derive(Module)]
struct Keywords {
    r#type: Param,
    r#loop: Vec<Param>,
}

#[test]
fn tuple_fields_are_named_by_index() {
    let t = Tuple(linear(2, 3, true), 42, Param::new("x", Tensor::zeros(&[4])));
    assert_eq!(names(&t), ["0.weight", "0.bias", "2"]);
    assert_eq!(t.num_params(), 6 + 3 + 4);
    assert_eq!(t.1, 42);
}

#[test]
fn empty_structs_hold_nothing() {
    assert_eq!(Unit.num_params(), 0);
    assert!(Empty {}.parameters().is_empty());
}

#[test]
fn raw_identifiers_lose_their_prefix() {
    let k = Keywords {
        r#type: Param::new("t", Tensor::zeros(&[1])),
        r#loop: vec![Param::new("l", Tensor::zeros(&[1]))],
    };
    assert_eq!(names(&k), ["type", "loop.0"]);
}

// ---- freezing, lookup, renaming ----

#[test]
fn freeze_unfreeze_and_select_by_name() {
    let mut model = gpt(2);
    let trainable = |m: &Gpt| -> Vec<String> {
        m.named_parameters()
            .into_iter()
            .filter(|(_, p)| p.is_trainable())
            .map(|(n, _)| n)
            .collect()
    };
    assert_eq!(trainable(&model).len(), 18);

    model.freeze();
    assert!(trainable(&model).is_empty());

    // fine-tune block 1's attention only
    model.set_trainable_where(|n| n.starts_with("blocks.1.attn."), true);
    assert_eq!(
        trainable(&model),
        [
            "blocks.1.attn.qkv.weight",
            "blocks.1.attn.qkv.bias",
            "blocks.1.attn.proj.weight",
            "blocks.1.attn.proj.bias"
        ]
    );
    // the selection leaves unselected parameters as they were
    model.set_trainable_where(|n| n.ends_with(".bias"), false);
    assert_eq!(
        trainable(&model),
        ["blocks.1.attn.qkv.weight", "blocks.1.attn.proj.weight"]
    );

    model.unfreeze();
    assert_eq!(trainable(&model).len(), 18);
}

#[test]
fn lookup_by_dotted_name() {
    let mut model = gpt(2);
    let id = model.blocks[1].mlp[0].bias.as_ref().unwrap().id();
    assert_eq!(model.param_by_name("blocks.1.mlp.0.bias").unwrap().id(), id);
    assert_eq!(
        model.param_by_name("blocks.1.mlp.0.bias").unwrap().shape(),
        [8]
    );
    assert!(model.param_by_name("blocks.2.mlp.0.bias").is_none());
    assert!(model.param_by_name("head.bias").is_none());
    assert!(model.param_by_name("blocks.1.mlp").is_none());

    let p = model.param_by_name_mut("head.weight").unwrap();
    p.value_mut().set(&[4, 3], 7.5);
    assert_eq!(model.head.weight.value().get(&[4, 3]), 7.5);
}

#[test]
fn parameters_mut_writes_through() {
    let mut m = Tuple(linear(1, 2, true), 0, Param::new("x", Tensor::zeros(&[3])));
    for p in m.parameters_mut() {
        p.value_mut().as_mut_slice().fill(2.0);
    }
    assert_eq!(m.0.weight.value().to_vec(), [2.0, 2.0]);
    assert_eq!(m.2.value().to_vec(), [2.0, 2.0, 2.0]);
}

#[test]
fn name_parameters_sets_own_names_to_paths() {
    let mut model = gpt(1);
    assert_eq!(model.blocks[0].attn.proj.weight.name(), "weight");
    model.name_parameters();
    assert_eq!(
        model.blocks[0].attn.proj.weight.name(),
        "blocks.0.attn.proj.weight"
    );
    for (name, p) in model.named_parameters() {
        assert_eq!(p.name(), name);
    }
}

// ---- summary ----

#[derive(Module)]
struct Small {
    fc: Linear,
}

#[test]
fn summary_prints_an_aligned_table_with_totals() {
    let mut small = Small {
        fc: linear(4, 3, true),
    };
    small.set_trainable_where(|n| n == "fc.bias", false);
    let s = small.summary();
    assert_eq!(s.total(), 15);
    assert_eq!(s.trainable(), 12);
    assert_eq!(s.rows.len(), 2);
    assert_eq!(s.rows[0].shape, [3, 4]);
    assert_eq!(s.rows[0].numel, 12);
    assert!(!s.rows[1].trainable);
    // columns: name 9 wide ("fc.weight"), shape 6 ("[3, 4]"), params 6
    // ("params", numbers right-aligned), two spaces between
    let expected = "\
name       shape   params  trainable
fc.weight  [3, 4]      12  yes
fc.bias    [3]          3  no
total: 15 parameters in 2 tensors, 12 trainable
";
    assert_eq!(s.to_string(), expected);
}

#[test]
fn summary_groups_thousands_and_shows_scalars() {
    let model = Keywords {
        r#type: Param::new("t", Tensor::zeros(&[1000, 1001])),
        r#loop: vec![Param::new("l", Tensor::zeros(&[]))],
    };
    // 1000 * 1001 = 1,001,000; the 0-d parameter holds one scalar, shape []
    let text = model.summary().to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "name    shape            params  trainable");
    assert_eq!(lines[1], "type    [1000, 1001]  1,001,000  yes");
    assert_eq!(lines[2], "loop.0  []                    1  yes");
    assert_eq!(
        lines[3],
        "total: 1,001,001 parameters in 2 tensors, 1,001,001 trainable"
    );

    let one = Param::new("p", Tensor::<f32>::zeros(&[1]));
    assert!(
        one.summary()
            .to_string()
            .ends_with("total: 1 parameter in 1 tensor, 1 trainable\n")
    );
    let nothing = Unit.summary().to_string();
    assert_eq!(
        nothing,
        "name  shape  params  trainable\ntotal: 0 parameters in 0 tensors, 0 trainable\n"
    );
}

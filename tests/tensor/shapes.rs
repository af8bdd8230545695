//! Shapes whose element count overflows `usize` are refused: `from_vec`
//! returns [`Error::ShapeOverflow`], and constructors and shape ops that
//! panic name the op and the shape. Before, the count wrapped (in release
//! builds) and `from_vec(vec![], &[1 << 63, 2])` made a tensor claiming
//! 2^64 elements with none stored.

use tapegrad::{Error, Tape, Tensor};

const HUGE: [usize; 2] = [1 << 63, 2];

#[test]
fn from_vec_refuses_a_shape_whose_count_overflows() {
    let err = Tensor::<f32>::from_vec(vec![], &HUGE).unwrap_err();
    match &err {
        Error::ShapeOverflow { dims } => assert_eq!(dims, &HUGE),
        e => panic!("expected ShapeOverflow, got {e:?}"),
    }
    assert_eq!(
        err.to_string(),
        "shape [9223372036854775808, 2] has too many elements (their count overflows usize)"
    );
    // A zero axis does not excuse the others (NumPy's rule: strides are
    // products of trailing axes and must be countable too) ...
    let with_zero = Tensor::<f64>::from_vec(vec![], &[0, usize::MAX, 2]);
    assert!(matches!(with_zero, Err(Error::ShapeOverflow { .. })));
    // ... but empty shapes whose other axes fit are fine, as are exact fits.
    assert_eq!(
        Tensor::<f32>::from_vec(vec![], &[0, 1 << 40, 1 << 20])
            .unwrap()
            .numel(),
        0
    );
    let wrapped_to_six = [(1 << 63) + 3, 2]; // 2^64 + 6: wrapped, it was 6
    assert!(matches!(
        Tensor::<f32>::from_vec(vec![0.0; 6], &wrapped_to_six),
        Err(Error::ShapeOverflow { .. })
    ));
}

#[test]
#[should_panic(expected = "zeros: shape [9223372036854775808, 2] has too many elements")]
fn zeros_of_an_overflowing_shape_panics_naming_it() {
    let _ = Tensor::<f32>::zeros(&HUGE);
}

#[test]
#[should_panic(expected = "ones: shape [9223372036854775808, 2] has too many elements")]
fn ones_of_an_overflowing_shape_panics_naming_it() {
    let _ = Tensor::<f32>::ones(&HUGE);
}

#[test]
#[should_panic(expected = "full: shape [9223372036854775808, 2] has too many elements")]
fn full_of_an_overflowing_shape_panics_naming_it() {
    let _ = Tensor::<f64>::full(&HUGE, 1.5);
}

#[test]
#[should_panic(expected = "randn: shape [9223372036854775808, 2] has too many elements")]
fn randn_of_an_overflowing_shape_panics_naming_it() {
    use rand::SeedableRng;
    let _ = Tensor::<f32>::randn(&HUGE, &mut rand::rngs::StdRng::seed_from_u64(0));
}

#[test]
#[should_panic(expected = "eye: shape [4294967296, 4294967296] has too many elements")]
fn eye_too_large_to_count_panics() {
    let _ = Tensor::<f32>::eye(1 << 32);
}

#[test]
#[should_panic(expected = "reshape: shape [9223372036854775808, 2] has too many elements")]
fn reshape_to_an_overflowing_shape_panics_even_when_the_count_wraps_to_a_match() {
    // 2^64 wraps to 0, the element count of the empty tensor.
    let _ = Tensor::<f32>::zeros(&[0]).reshape(&HUGE);
}

#[test]
#[should_panic(expected = "reshape: shape [9223372036854775810, 2] has too many elements")]
fn var_reshape_to_an_overflowing_shape_panics() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::zeros(&[4]));
    // (2^63 + 2) * 2 = 2^64 + 4 wraps to 4, the element count of x.
    let _ = x.reshape(&[(1 << 63) + 2, 2]);
}

#[test]
#[should_panic(expected = "broadcast_to: shape [9223372036854775808, 2] has too many elements")]
fn broadcast_to_an_overflowing_shape_panics() {
    let _ = Tensor::<f32>::zeros(&[2]).broadcast_to(&HUGE);
}

#[test]
#[should_panic(
    expected = "narrow: range 18446744073709551615..18446744073709551617 is out of bounds"
)]
fn narrow_whose_end_overflows_panics_naming_the_range() {
    let _ = Tensor::<f32>::zeros(&[4]).narrow(0, usize::MAX, 2);
}

#[test]
#[should_panic(expected = "pad: padding [(18446744073709551615, 1)] of [2] makes an axis longer")]
fn pad_whose_length_overflows_panics() {
    let _ = Tensor::<f32>::zeros(&[2]).pad(&[(usize::MAX, 1)], 0.0);
}

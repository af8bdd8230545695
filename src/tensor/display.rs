//! NumPy-style printing of tensors.
//!
//! `Display` follows what NumPy's `print(array)` shows with its default
//! options:
//! - nested brackets, one line per row, a blank line between 2-d blocks;
//! - one column width for the whole tensor, decimal points aligned;
//! - rows wrapped at 75 characters;
//! - past 1000 elements, only the first and last 3 entries of each longer
//!   axis, with `...` in between;
//! - numbers in their shortest form that reads back the same, cut at 8
//!   decimals, trailing zeros dropped (`1.` for a whole number); scientific
//!   notation once the values reach `1e8`, fall below `1e-4`, or span more
//!   than three orders of magnitude;
//! - a 0-d tensor prints as the bare number (`2.5`, `1.0`).
//!
//! A precision (`{:.3}`) fixes the number of decimals instead, as NumPy's
//! `floatmode="fixed"` does.
//!
//! `Debug` prints the shape and every element in one line, which is what a
//! failing `assert_eq!` wants.

use super::{Float, Tensor, shape};
use std::fmt;

/// Element count above which the middle of each long axis is elided.
const THRESHOLD: usize = 1000;
/// Entries kept at each end of an elided axis.
const EDGE_ITEMS: usize = 3;
/// Width at which rows wrap.
const LINE_WIDTH: usize = 75;
/// Most decimals shown when no precision is given.
const MAX_DECIMALS: usize = 8;

impl<T: Float> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({:?}, {:?})", self.shape(), self.as_slice())
    }
}

/// Prints like NumPy's `print(array)` with its default options: nested
/// brackets, one column width with aligned decimal points, rows wrapped at
/// 75 characters, long axes summarised with `...` past 1000 elements, the
/// shortest round-tripping numbers (scientific notation for wide ranges),
/// and a 0-d tensor as the bare number. A precision (`{:.3}`) fixes the
/// decimals instead.
///
/// ```
/// use tapegrad::tensor;
/// let t = tensor![[1.0, -2.5], [30.0, 0.125]];
/// assert_eq!(t.to_string(), "[[ 1.    -2.5  ]\n [30.     0.125]]");
/// assert_eq!(format!("{t:.1}"), "[[ 1.0 -2.5]\n [30.0  0.1]]");
/// ```
impl<T: Float> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ndim() == 0 {
            return f.write_str(&scalar_string(self.as_slice()[0], f.precision()));
        }
        if self.numel() == 0 {
            return f.write_str("[]");
        }
        let printer = Printer::new(self, f.precision());
        f.write_str(&printer.block(0, 0, " ", LINE_WIDTH))
    }
}

/// Lays out a tensor: which entries show, how each is written, and where
/// lines break.
struct Printer<'a, T: Float> {
    data: &'a [T],
    shape: &'a [usize],
    strides: shape::Shape,
    elide: bool,
    cell: CellFormat,
}

impl<'a, T: Float> Printer<'a, T> {
    fn new(t: &'a Tensor<T>, precision: Option<usize>) -> Self {
        let mut p = Printer {
            data: t.as_slice(),
            shape: t.shape(),
            strides: shape::strides(t.shape()),
            elide: t.numel() > THRESHOLD,
            cell: CellFormat::default(),
        };
        // As NumPy does, only the entries that show decide the format.
        let mut shown = Vec::new();
        p.collect_shown(0, 0, &mut shown);
        p.cell = CellFormat::new(&shown, precision);
        p
    }

    /// The indices along an axis of length `n` that are printed.
    fn shown(&self, n: usize) -> Vec<usize> {
        if self.elide && n > 2 * EDGE_ITEMS {
            (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
        } else {
            (0..n).collect()
        }
    }

    fn collect_shown(&self, axis: usize, offset: usize, out: &mut Vec<T>) {
        if axis == self.shape.len() {
            out.push(self.data[offset]);
            return;
        }
        for i in self.shown(self.shape[axis]) {
            self.collect_shown(axis + 1, offset + i * self.strides[axis], out);
        }
    }

    /// The sub-tensor at `offset` from `axis` on, bracketed. Lines after the
    /// first start with `indent`; `width` is what remains of the line width
    /// once the closing brackets of the enclosing axes are counted.
    fn block(&self, axis: usize, offset: usize, indent: &str, width: usize) -> String {
        if axis == self.shape.len() {
            return self.cell.render(self.data[offset]);
        }
        let inner_indent = format!("{indent} ");
        let inner_width = width.saturating_sub(1); // room for this axis's ']'
        let n = self.shape[axis];
        let stride = self.strides[axis];
        let shown = self.shown(n);
        let elided = shown.len() < n;
        let axes_left = self.shape.len() - axis;
        // Built with the indent in front of the first line too; the indent
        // is swapped for the opening bracket at the end.
        let mut s = String::new();
        if axes_left == 1 {
            let mut line = indent.to_string();
            for (k, &i) in shown.iter().enumerate() {
                if elided && k == EDGE_ITEMS {
                    extend_line(&mut s, &mut line, "...", inner_width, indent);
                    line.push(' ');
                }
                let word = self.block(axis + 1, offset + i * stride, &inner_indent, inner_width);
                extend_line(&mut s, &mut line, &word, inner_width, indent);
                if k + 1 < shown.len() {
                    line.push(' ');
                }
            }
            s.push_str(&line);
        } else {
            // One newline between rows, two between 2-d blocks, and so on.
            let separator = "\n".repeat(axes_left - 1);
            for (k, &i) in shown.iter().enumerate() {
                if elided && k == EDGE_ITEMS {
                    s.push_str(indent);
                    s.push_str("...");
                    s.push_str(&separator);
                }
                s.push_str(indent);
                s.push_str(&self.block(axis + 1, offset + i * stride, &inner_indent, inner_width));
                if k + 1 < shown.len() {
                    s.push_str(&separator);
                }
            }
        }
        format!("[{}]", &s[indent.len()..])
    }
}

/// Appends `word` to `line`, first moving `line` into `s` and starting a new
/// one if the word would pass `width` (unless the line is still empty, when
/// wrapping would not help).
fn extend_line(s: &mut String, line: &mut String, word: &str, width: usize, indent: &str) {
    if line.len() + word.len() > width && line.len() > indent.len() {
        s.push_str(line.trim_end());
        s.push('\n');
        line.clear();
        line.push_str(indent);
    }
    line.push_str(word);
}

/// How every entry of one tensor is written, so that columns line up.
#[derive(Default)]
struct CellFormat {
    scientific: bool,
    /// Fixed number of decimals (from `{:.N}`), or `None` for shortest.
    precision: Option<usize>,
    /// Width of the integer part, sign included (of the mantissa in
    /// scientific notation).
    int_width: usize,
    /// Width of the fractional part.
    frac_width: usize,
    /// Digits of the exponent (scientific notation only).
    exp_digits: usize,
    /// Width of every cell; non-finite entries are right-aligned to it.
    width: usize,
}

/// A finite number split into the pieces that are aligned separately.
struct Pieces {
    int: String,
    frac: String,
    exp: i32,
}

impl CellFormat {
    fn new<T: Float>(values: &[T], precision: Option<usize>) -> Self {
        let finite: Vec<T> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let magnitudes = finite
            .iter()
            .map(|x| x.to_f64().abs())
            .filter(|&a| a != 0.0);
        let (min, max) = magnitudes.fold((f64::INFINITY, 0.0f64), |(lo, hi), a| {
            (lo.min(a), hi.max(a))
        });
        let scientific = max > 0.0 && (max >= 1e8 || min < 1e-4 || max / min > 1e3);
        let mut cell = CellFormat {
            scientific,
            precision,
            ..CellFormat::default()
        };
        let mut exp_len = 0;
        for &x in &finite {
            let p = cell.pieces(x);
            cell.int_width = cell.int_width.max(p.int.len());
            cell.frac_width = cell.frac_width.max(p.frac.len());
            exp_len = exp_len.max(p.exp.unsigned_abs().to_string().len());
        }
        cell.exp_digits = exp_len.max(2);
        if !finite.is_empty() {
            cell.width = cell.int_width + 1 + cell.frac_width;
            if scientific {
                cell.width += 2 + cell.exp_digits; // "e+05"
            }
        }
        for &x in values.iter().filter(|x| !x.is_finite()) {
            cell.width = cell.width.max(non_finite(x).len());
        }
        cell
    }

    fn pieces<T: Float>(&self, x: T) -> Pieces {
        match (self.scientific, self.precision) {
            (false, None) => positional_shortest(x),
            (false, Some(p)) => split_positional(&format!("{:.p$}", x.to_f64())),
            (true, None) => scientific_shortest(x),
            (true, Some(p)) => split_scientific(&format!("{:.p$e}", x.to_f64())),
        }
    }

    fn render<T: Float>(&self, x: T) -> String {
        if !x.is_finite() {
            return format!("{:>w$}", non_finite(x), w = self.width);
        }
        let p = self.pieces(x);
        let (iw, fw) = (self.int_width, self.frac_width);
        let s = if self.scientific {
            // Mantissas are padded with zeros so every one has as many digits.
            let sign = if p.exp < 0 { '-' } else { '+' };
            let e = p.exp.unsigned_abs();
            format!(
                "{:>iw$}.{:0<fw$}e{sign}{e:0>ed$}",
                p.int,
                p.frac,
                ed = self.exp_digits
            )
        } else {
            // Shorter fractions are padded with spaces, keeping points aligned.
            format!("{:>iw$}.{:<fw$}", p.int, p.frac)
        };
        format!("{s:>w$}", w = self.width)
    }
}

/// NumPy's spelling of NaN and the infinities.
fn non_finite<T: Float>(x: T) -> &'static str {
    if x.is_nan() {
        "nan"
    } else if x > T::ZERO {
        "inf"
    } else {
        "-inf"
    }
}

/// Splits `"-12.5"` (or `"-12"`) at the point.
fn split_positional(s: &str) -> Pieces {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    Pieces {
        int: int.to_string(),
        frac: frac.to_string(),
        exp: 0,
    }
}

/// Splits `"-1.25e-7"` into mantissa pieces and exponent.
fn split_scientific(s: &str) -> Pieces {
    let (mantissa, exp) = s
        .split_once('e')
        .expect("tapegrad bug: scientific format without an exponent");
    Pieces {
        exp: exp
            .parse()
            .expect("tapegrad bug: unreadable exponent in scientific format"),
        ..split_positional(mantissa)
    }
}

/// The shortest decimals that read back as `x` (Rust's `Display` for
/// floats, which never uses an exponent), cut at [`MAX_DECIMALS`].
fn positional_shortest<T: Float>(x: T) -> Pieces {
    let p = split_positional(&x.to_string());
    if p.frac.len() <= MAX_DECIMALS {
        return p;
    }
    let mut p = split_positional(&format!("{:.MAX_DECIMALS$}", x.to_f64()));
    p.frac = p.frac.trim_end_matches('0').to_string();
    p
}

/// `x` as `d.ddd` times a power of ten, with the shortest digits that read
/// back as `x`, cut at [`MAX_DECIMALS`] after the point.
fn scientific_shortest<T: Float>(x: T) -> Pieces {
    let (negative, digits, exp) = shortest_digits(x);
    if digits.len() > MAX_DECIMALS + 1 {
        let mut p = split_scientific(&format!("{:.MAX_DECIMALS$e}", x.to_f64()));
        p.frac = p.frac.trim_end_matches('0').to_string();
        return p;
    }
    let sign = if negative { "-" } else { "" };
    Pieces {
        int: format!("{sign}{}", &digits[..1]),
        frac: digits[1..].to_string(),
        exp,
    }
}

/// The shortest significant digits that read back as `x` (no leading or
/// trailing zeros; `"0"` for zero), and the power of ten of the first one.
///
/// Taken from the type's own `Display`, so an `f32` gets `f32` digits
/// (`0.1`, not `0.10000000149011612`).
fn shortest_digits<T: Float>(x: T) -> (bool, String, i32) {
    let s = x.to_string();
    let negative = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let all = format!("{int}{frac}");
    let leading = all.bytes().take_while(|&b| b == b'0').count();
    if leading == all.len() {
        return (negative, "0".to_string(), 0);
    }
    let digits = all[leading..].trim_end_matches('0').to_string();
    (negative, digits, int.len() as i32 - 1 - leading as i32)
}

/// A lone number as Python writes a float (`2.5`, `1.0`, `1e-05`), or with
/// exactly `precision` decimals.
fn scalar_string<T: Float>(x: T, precision: Option<usize>) -> String {
    if !x.is_finite() {
        return non_finite(x).to_string();
    }
    if let Some(p) = precision {
        return format!("{:.p$}", x.to_f64());
    }
    let (negative, digits, exp) = shortest_digits(x);
    if (-4..16).contains(&exp) {
        let s = x.to_string();
        return if s.contains('.') { s } else { s + ".0" };
    }
    let sign = if negative { "-" } else { "" };
    let point = if digits.len() > 1 { "." } else { "" };
    let esign = if exp < 0 { '-' } else { '+' };
    format!(
        "{sign}{}{point}{}e{esign}{:02}",
        &digits[..1],
        &digits[1..],
        exp.unsigned_abs()
    )
}

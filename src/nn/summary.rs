//! [`ModuleSummary`]: the table of a module's parameters and buffers that
//! [`Module::summary`](crate::Module::summary) returns.

use std::fmt::{self, Display};

/// One line of a [`ModuleSummary`]: a parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamRow {
    /// The dotted path.
    pub name: String,
    /// The shape of the value.
    pub shape: Vec<usize>,
    /// The number of scalars (the product of the shape).
    pub numel: usize,
    /// Whether it is trainable.
    pub trainable: bool,
}

/// One buffer line of a [`ModuleSummary`]: state saved with the model but
/// not trained (see [Buffers](crate::Module#buffers)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferRow {
    /// The dotted path.
    pub name: String,
    /// The shape of the value.
    pub shape: Vec<usize>,
    /// The number of scalars (the product of the shape).
    pub numel: usize,
}

/// Every parameter and buffer of a module and the totals, from
/// [`Module::summary`](crate::Module::summary). `Display` prints it as a
/// table, the buffers after the parameters, marked `buffer` in the last
/// column and left out of the parameter totals:
///
/// ```text
/// name             shape   params  trainable
/// fc.weight        [3, 4]      12  yes
/// fc.bias          [3]          3  no
/// bn.weight        [3]          3  yes
/// bn.bias          [3]          3  yes
/// bn.running_mean  [3]          3  buffer
/// bn.running_var   [3]          3  buffer
/// total: 21 parameters in 4 tensors, 18 trainable; buffers: 6 values in 2 tensors
/// ```
///
/// The buffer totals appear only when there are buffers. Counts of a
/// thousand or more are grouped with commas (`1,024`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSummary {
    /// One row per parameter, in visiting order.
    pub rows: Vec<ParamRow>,
    /// One row per buffer, in visiting order.
    pub buffers: Vec<BufferRow>,
}

impl ModuleSummary {
    /// The number of scalars in all parameters.
    pub fn total(&self) -> usize {
        self.rows.iter().map(|r| r.numel).sum()
    }

    /// The number of scalars in trainable parameters.
    pub fn trainable(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.trainable)
            .map(|r| r.numel)
            .sum()
    }

    /// The number of scalars in all buffers.
    pub fn buffer_total(&self) -> usize {
        self.buffers.iter().map(|r| r.numel).sum()
    }
}

/// `[3, 4]`.
fn shape_cell(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(", "))
}

/// `"s"` unless `n` is one.
fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Display for ModuleSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params = self.rows.iter().map(|r| {
            [
                r.name.clone(),
                shape_cell(&r.shape),
                grouped(r.numel),
                (if r.trainable { "yes" } else { "no" }).to_owned(),
            ]
        });
        let buffers = self.buffers.iter().map(|r| {
            [
                r.name.clone(),
                shape_cell(&r.shape),
                grouped(r.numel),
                "buffer".to_owned(),
            ]
        });
        let cells: Vec<[String; 4]> = params.chain(buffers).collect();
        let header = ["name", "shape", "params", "trainable"].map(str::to_owned);
        let width = |col: usize| {
            std::iter::once(&header)
                .chain(&cells)
                .map(|row| row[col].chars().count())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        for [name, shape, numel, trainable] in std::iter::once(&header).chain(&cells) {
            writeln!(out, "{name:<w0$}  {shape:<w1$}  {numel:>w2$}  {trainable}")?;
        }
        let tensors = self.rows.len();
        write!(
            out,
            "total: {} parameter{} in {} tensor{}, {} trainable",
            grouped(self.total()),
            plural(self.total()),
            tensors,
            plural(tensors),
            grouped(self.trainable()),
        )?;
        if !self.buffers.is_empty() {
            let n = self.buffers.len();
            write!(
                out,
                "; buffers: {} value{} in {} tensor{}",
                grouped(self.buffer_total()),
                plural(self.buffer_total()),
                n,
                plural(n),
            )?;
        }
        writeln!(out)
    }
}

/// `1234567` as `"1,234,567"`.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

//! Reading numeric CSV files into a [`TensorDataset`].
//!
//! The format is the simple one our bundled data uses: one optional header
//! line, then rows of numbers separated by a delimiter, no quoting. Every
//! problem is reported with the file and the 1-based line number, and
//! nothing is returned unless the whole file parsed.

use super::TensorDataset;
use crate::error::{Error, Result};
use crate::tensor::{Float, Tensor};
use std::path::Path;

/// Which column holds the target.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum LabelColumn {
    /// The last column (the convention of the bundled datasets).
    #[default]
    Last,
    /// The column at this 0-based position.
    Index(usize),
    /// The column with this header name (needs a header).
    Name(String),
    /// No target: every column is an input, targets are empty.
    None,
}

/// How to read a CSV file.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// Whether the first line names the columns.
    pub header: bool,
    /// Which column is the target.
    pub label: LabelColumn,
    /// The field separator.
    pub delimiter: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            header: true,
            label: LabelColumn::Last,
            delimiter: ',',
        }
    }
}

/// Reads a numeric CSV file: inputs `[rows, columns - 1]` and targets `[rows]`
/// (or `[rows, 0]`-free inputs only with [`LabelColumn::None`]).
///
/// Memory is the file's bytes plus the numbers (one `T` per field, and a
/// field takes at least two bytes of text with its separator): nothing is
/// kept per field or per line while parsing.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Csv`] with the line
/// number for text that is not UTF-8, a row with the wrong number of
/// fields, a cell that is not a number, an unknown label column, or a file
/// without data rows.
pub fn read_csv<T: Float>(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<TensorDataset<T>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let csv_error = |(line, message)| Error::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        csv_error((line, format!("not UTF-8 text (byte {at} of the file)")))
    })?;
    parse_csv(text, opts).map_err(csv_error)
}

/// Parses CSV text; errors are `(line, message)`.
pub(crate) fn parse_csv<T: Float>(
    text: &str,
    opts: &CsvOptions,
) -> std::result::Result<TensorDataset<T>, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let d = opts.delimiter;
    let mut width: Option<usize> = None;
    let mut header: Option<&str> = None;
    if opts.header {
        let (_, h) = lines.next().ok_or((1, "the file is empty".to_string()))?;
        width = Some(h.split(d).count());
        header = Some(h);
    }
    let mut inputs: Vec<T> = Vec::new();
    let mut targets: Vec<T> = Vec::new();
    let mut rows = 0usize;
    let mut label: Option<Option<usize>> = None;
    for (line_no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let count = line.split(d).count();
        let w = *width.get_or_insert(count);
        if count != w {
            return Err((line_no, format!("expected {w} fields, found {count}")));
        }
        let label_col = match label {
            Some(c) => c,
            None => {
                let c = resolve_label(&opts.label, header, d, w).map_err(|m| (line_no, m))?;
                *label.insert(c)
            }
        };
        for (c, f) in line.split(d).enumerate() {
            let v: f64 = f.trim().parse().map_err(|_| {
                (
                    line_no,
                    format!("column {} ('{}') is not a number", c + 1, f.trim()),
                )
            })?;
            if Some(c) == label_col {
                targets.push(T::from_f64(v));
            } else {
                inputs.push(T::from_f64(v));
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err((if opts.header { 2 } else { 1 }, "no data rows".to_string()));
    }
    let w = width.unwrap_or(0);
    let has_label = label.flatten().is_some();
    let n_in = if has_label { w - 1 } else { w };
    let x = Tensor::from_vec(inputs, &[rows, n_in]).expect("tapegrad bug: csv input length");
    let y = if has_label {
        Tensor::from_vec(targets, &[rows]).expect("tapegrad bug: csv target length")
    } else {
        Tensor::zeros(&[rows, 0])
    };
    Ok(TensorDataset::new(x, y))
}

/// The target's column, for rows of `width` fields under `header` (the
/// header line, if the file has one).
fn resolve_label(
    label: &LabelColumn,
    header: Option<&str>,
    delimiter: char,
    width: usize,
) -> std::result::Result<Option<usize>, String> {
    match label {
        LabelColumn::Last => Ok(Some(width - 1)),
        LabelColumn::None => Ok(None),
        LabelColumn::Index(i) if *i < width => Ok(Some(*i)),
        LabelColumn::Index(i) => Err(format!(
            "label column {i} is out of range for {width} columns"
        )),
        LabelColumn::Name(n) => {
            let Some(header) = header else {
                return Err(format!("label column '{n}' needs a header line"));
            };
            let mut names = header.split(delimiter).map(str::trim);
            match names.clone().position(|h| h == n) {
                Some(i) => Ok(Some(i)),
                None => Err(format!(
                    "no column named '{n}' in the header {:?}",
                    names.by_ref().collect::<Vec<_>>()
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    #[test]
    fn parses_header_and_last_label() {
        let ds: TensorDataset<f64> =
            parse_csv("a,b,label\n1,2,0\n3,4.5,1\n", &CsvOptions::default()).unwrap();
        assert_eq!(ds.inputs().to_vec(), vec![1., 2., 3., 4.5]);
        assert_eq!(ds.targets().to_vec(), vec![0., 1.]);
        assert_eq!(ds.len(), 2);
    }

    #[test]
    fn label_by_name_and_bad_rows_report_lines() {
        let opts = CsvOptions {
            label: LabelColumn::Name("y".into()),
            ..Default::default()
        };
        let ds: TensorDataset<f64> = parse_csv("y,x\n5,1\n6,2\n", &opts).unwrap();
        assert_eq!(ds.targets().to_vec(), vec![5., 6.]);
        let err = parse_csv::<f64>("a,b\n1,2\n3\n", &CsvOptions::default())
            .err()
            .unwrap();
        assert_eq!(err, (3, "expected 2 fields, found 1".to_string()));
        let err = parse_csv::<f64>("a,b\n1,2\n3,x\n", &CsvOptions::default())
            .err()
            .unwrap();
        assert_eq!(err.0, 3);
        assert!(err.1.contains("column 2 ('x') is not a number"));
    }
}

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
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Csv`] with the line
/// number for a row with the wrong number of fields, a cell that is not a
/// number, an unknown label column, or a file without data rows.
pub fn read_csv<T: Float>(path: impl AsRef<Path>, opts: &CsvOptions) -> Result<TensorDataset<T>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(&text, opts).map_err(|(line, message)| Error::Csv {
        path: path.to_path_buf(),
        line,
        message,
    })
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
    let mut width: Option<usize> = None;
    let mut names: Vec<String> = Vec::new();
    if opts.header {
        let (_, h) = lines.next().ok_or((1, "the file is empty".to_string()))?;
        names = h
            .split(opts.delimiter)
            .map(|s| s.trim().to_string())
            .collect();
        width = Some(names.len());
    }
    let mut inputs: Vec<T> = Vec::new();
    let mut targets: Vec<T> = Vec::new();
    let mut rows = 0usize;
    let mut label: Option<usize> = None;
    for (line_no, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(opts.delimiter).collect();
        let w = *width.get_or_insert(fields.len());
        if fields.len() != w {
            return Err((
                line_no,
                format!("expected {w} fields, found {}", fields.len()),
            ));
        }
        let label_col = match label {
            Some(c) => Some(c),
            None => {
                label = resolve_label(&opts.label, &names, w).map_err(|m| (line_no, m))?;
                label
            }
        };
        for (c, f) in fields.iter().enumerate() {
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
    let n_in = if label.is_some() { w - 1 } else { w };
    let x = Tensor::from_vec(inputs, &[rows, n_in]).expect("tapegrad bug: csv input length");
    let y = if label.is_some() {
        Tensor::from_vec(targets, &[rows]).expect("tapegrad bug: csv target length")
    } else {
        Tensor::zeros(&[rows, 0])
    };
    Ok(TensorDataset::new(x, y))
}

fn resolve_label(
    label: &LabelColumn,
    names: &[String],
    width: usize,
) -> std::result::Result<Option<usize>, String> {
    match label {
        LabelColumn::Last => Ok(Some(width - 1)),
        LabelColumn::None => Ok(None),
        LabelColumn::Index(i) if *i < width => Ok(Some(*i)),
        LabelColumn::Index(i) => Err(format!(
            "label column {i} is out of range for {width} columns"
        )),
        LabelColumn::Name(n) => match names.iter().position(|h| h == n) {
            Some(i) => Ok(Some(i)),
            None if names.is_empty() => Err(format!("label column '{n}' needs a header line")),
            None => Err(format!("no column named '{n}' in the header {names:?}")),
        },
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

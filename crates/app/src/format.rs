//! Aligned, labelled matrices for people.

use nalgebra::DMatrix;
use serde_json::Value;

/// One number, fixed-point in the readable range, scientific outside it.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".to_string()
    } else if (1e-4..1e7).contains(&a) {
        let s = format!("{v:.10}");
        let s = s.trim_end_matches('0');
        s.trim_end_matches('.').to_string()
    } else {
        format!("{v:.9e}")
    }
}

/// A matrix with row and column labels, right-aligned columns.
pub fn matrix(names: &[String], m: &DMatrix<f64>) -> String {
    let cells: Vec<Vec<String>> = (0..m.nrows())
        .map(|i| (0..m.ncols()).map(|j| number(m[(i, j)])).collect())
        .collect();
    let label_w = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let col_w: Vec<usize> = (0..m.ncols())
        .map(|j| {
            cells
                .iter()
                .map(|r| r[j].len())
                .chain(std::iter::once(names[j].len()))
                .max()
                .unwrap_or(1)
        })
        .collect();
    let mut out = format!("{:label_w$}", "");
    for (j, n) in names.iter().enumerate() {
        out += &format!("  {:>w$}", n, w = col_w[j]);
    }
    out.push('\n');
    for (i, row) in cells.iter().enumerate() {
        out += &format!("{:<label_w$}", names[i]);
        for (j, c) in row.iter().enumerate() {
            out += &format!("  {:>w$}", c, w = col_w[j]);
        }
        out.push('\n');
    }
    out
}

/// A JSON value as a table cell: numbers by [`short`], null as `—`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "—".to_string(),
        Value::Number(n) => n.as_f64().map_or(n.to_string(), short),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One number to 4 significant digits, scientific outside [1e-3, 1e5).
pub fn short(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || v.fract() == 0.0 && a < 1e9 {
        format!("{v}")
    } else if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

/// An aligned table: the first column left-aligned, the others right-aligned, two spaces apart.
pub fn table(headers: &[&str], body: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|j| {
            body.iter()
                .map(|r| r[j].chars().count())
                .chain(std::iter::once(headers[j].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let pad = " ".repeat(widths[j] - c.chars().count());
                if j == 0 {
                    format!("{c}{pad}")
                } else {
                    format!("{pad}{c}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
            + "\n"
    };
    let mut out = line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in body {
        out.push_str(&line(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_a_paper() {
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(-2.0), "-2");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1e16), "1.000000000e16");
        assert_eq!(number(1.0 / 3.0), "0.3333333333");
    }

    #[test]
    fn matrix_is_aligned_and_labelled() {
        let m = nalgebra::dmatrix![1.0, -0.5; -0.5, 12.25];
        let s = matrix(&["mu".into(), "sigma".into()], &m);
        assert_eq!(
            s,
            "         mu  sigma\nmu        1   -0.5\nsigma  -0.5  12.25\n"
        );
    }

    #[test]
    fn short_numbers_keep_four_significant_digits() {
        assert_eq!(short(0.019304), "0.01930");
        assert_eq!(short(123.456), "123.5");
        assert_eq!(short(80.0), "80");
        assert_eq!(short(1.27e-5), "1.270e-5");
        assert_eq!(short(-216.84), "-216.8");
        assert_eq!(cell(&Value::Null), "—");
    }

    #[test]
    fn tables_align_the_first_column_left_and_the_rest_right() {
        let t = table(
            &["name", "x"],
            &[
                vec!["a".into(), "1.5".into()],
                vec!["long".into(), "10".into()],
            ],
        );
        assert_eq!(t, "name    x\na     1.5\nlong   10\n");
    }
}

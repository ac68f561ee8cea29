//! Aligned, labelled matrices for people.

use nalgebra::DMatrix;

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
}

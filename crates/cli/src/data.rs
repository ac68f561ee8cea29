//! Datasets shipped inside the binary.

use crate::CliError;
use faer::Mat;

const DIGITS: &str = include_str!("../data/digits.csv");

/// Names accepted by [`load`].
pub const DATASETS: [&str; 1] = ["digits"];

/// A dataset by name: inputs (N × d) and targets (N × 1), with the architecture that fits it.
pub fn load(name: &str) -> Result<(Mat<f64>, Mat<f64>), CliError> {
    match name {
        "digits" => Ok(digits()),
        _ => Err(CliError::Input(format!(
            "unknown dataset `{name}` (known: {})",
            DATASETS.join(", ")
        ))),
    }
}

/// UCI optical digits (1 797 images of 8 × 8 pixels, 10 classes), pixels scaled to [0, 1].
fn digits() -> (Mat<f64>, Mat<f64>) {
    let rows: Vec<Vec<f64>> = DIGITS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    let n = rows.len();
    let x = Mat::from_fn(n, 64, |i, j| rows[i][j] / 16.0);
    let y = Mat::from_fn(n, 1, |i, _| rows[i][64]);
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_has_the_published_shape_and_class_counts() {
        let (x, y) = load("digits").unwrap();
        assert_eq!((x.nrows(), x.ncols(), y.ncols()), (1797, 64, 1));
        // class sizes of the UCI test set: 178 182 177 183 181 182 181 179 174 180
        let mut counts = [0usize; 10];
        for i in 0..1797 {
            counts[y[(i, 0)] as usize] += 1;
        }
        assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
        for i in 0..1797 {
            for j in 0..64 {
                assert!((0.0..=1.0).contains(&x[(i, j)]));
            }
        }
        assert!(load("mnist").is_err());
    }
}

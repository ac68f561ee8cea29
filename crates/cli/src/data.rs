//! Datasets shipped inside the binary (sources and licences in `crates/cli/data/README.md`).

use crate::CliError;
use faer::Mat;
use serde_json::{Value, json};

const DIGITS: &[u8] = include_bytes!("../data/digits.csv.gz");
const DIABETES: &[u8] = include_bytes!("../data/diabetes.csv.gz");

/// The text of an embedded gzip-compressed CSV.
fn gunzip(bytes: &[u8]) -> Result<String, CliError> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| CliError::Failed(format!("an embedded dataset is corrupt: {e}")))?;
    Ok(text)
}

/// An embedded dataset.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// Name, as given to `--dataset`.
    pub name: &'static str,
    /// Rows.
    pub n: usize,
    /// Input columns.
    pub d: usize,
    /// Target columns.
    pub targets: usize,
    /// Likelihood head that fits the targets.
    pub likelihood: &'static str,
    /// An architecture for `--arch`.
    pub arch: &'static str,
    /// A smaller architecture for `compare`, whose dense exact Fisher and spectra take seconds.
    pub compare_arch: &'static str,
    /// One line about it.
    pub about: &'static str,
}

/// Every embedded dataset.
pub const DATASETS: [Dataset; 2] = [
    Dataset {
        name: "digits",
        n: 1797,
        d: 64,
        targets: 1,
        likelihood: "categorical",
        arch: "64,64,64,10",
        compare_arch: "64,32,10",
        about: "UCI optical handwritten digits: 8×8 images, pixels scaled to [0, 1], 10 classes",
    },
    Dataset {
        name: "diabetes",
        n: 442,
        d: 10,
        targets: 1,
        likelihood: "gaussian",
        arch: "10,32,1",
        compare_arch: "10,32,1",
        about: "Efron et al. (2004) diabetes progression: 10 baseline variables and the response, all standardised (regression)",
    },
];

/// The metadata of a dataset by name.
pub fn dataset(name: &str) -> Result<Dataset, CliError> {
    DATASETS
        .iter()
        .find(|d| d.name == name)
        .copied()
        .ok_or_else(|| unknown(name))
}

fn unknown(name: &str) -> CliError {
    CliError::Input(format!(
        "unknown dataset `{name}` (known: {})",
        DATASETS.map(|d| d.name).join(", ")
    ))
}

/// A dataset by name: inputs (N × d) and targets (N × 1).
pub fn load(name: &str) -> Result<(Mat<f64>, Mat<f64>), CliError> {
    match name {
        "digits" => digits(),
        "diabetes" => diabetes(),
        _ => Err(unknown(name)),
    }
}

fn rows(gz: &[u8]) -> Result<Vec<Vec<f64>>, CliError> {
    Ok(gunzip(gz)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .map(|v| v.trim().parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect())
}

/// UCI optical digits (1 797 images of 8 × 8 pixels, 10 classes), pixels scaled to [0, 1].
fn digits() -> Result<(Mat<f64>, Mat<f64>), CliError> {
    let rows = rows(DIGITS)?;
    let n = rows.len();
    let x = Mat::from_fn(n, 64, |i, j| rows[i][j] / 16.0);
    let y = Mat::from_fn(n, 1, |i, _| rows[i][64]);
    Ok((x, y))
}

/// Diabetes (442 patients, 10 variables, a continuous response), every column standardised to
/// mean 0 and standard deviation 1 (the response too, so a unit-variance Gaussian head fits).
fn diabetes() -> Result<(Mat<f64>, Mat<f64>), CliError> {
    let rows = rows(DIABETES)?;
    let n = rows.len();
    let standard = |j: usize| {
        let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n as f64;
        let var = rows.iter().map(|r| (r[j] - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (mean, var.sqrt())
    };
    let stats: Vec<(f64, f64)> = (0..11).map(standard).collect();
    let z = |i: usize, j: usize| (rows[i][j] - stats[j].0) / stats[j].1;
    Ok((Mat::from_fn(n, 10, z), Mat::from_fn(n, 1, |i, _| z(i, 10))))
}

/// `fisherlab datasets`: a table, or JSON.
pub fn list(json: bool) -> Result<String, CliError> {
    if json {
        let v: Vec<Value> = DATASETS
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "rows": d.n,
                    "inputs": d.d,
                    "targets": d.targets,
                    "likelihood": d.likelihood,
                    "arch": d.arch,
                    "about": d.about,
                })
            })
            .collect();
        return serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| CliError::Failed(e.to_string()));
    }
    let mut out = String::new();
    for d in DATASETS {
        out.push_str(&format!(
            "{:<9} {:>5} × {:<3} --likelihood {:<12} --arch {:<12} {}\n",
            d.name, d.n, d.d, d.likelihood, d.arch, d.about
        ));
    }
    Ok(out)
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
        // a damaged archive is an error, not a panic
        assert!(rows(&DIGITS[..DIGITS.len() / 2]).is_err());
    }

    #[test]
    fn diabetes_is_standardised_and_has_the_published_response() {
        let (x, y) = load("diabetes").unwrap();
        assert_eq!((x.nrows(), x.ncols(), y.nrows()), (442, 10, 442));
        let cols = (0..10).map(|j| x.col(j).iter().copied().collect::<Vec<f64>>());
        for c in cols.chain(std::iter::once(y.col(0).iter().copied().collect())) {
            let mean = c.iter().sum::<f64>() / 442.0;
            let var = c.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 441.0;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
        }
        // the raw response of the first patient is 151 (Efron et al. 2004); the published mean
        // and standard deviation of the response are 152.13 and 77.09
        let raw = rows(DIABETES).unwrap();
        assert_eq!(raw[0][10].to_bits(), 151.0f64.to_bits());
        let mean = raw.iter().map(|r| r[10]).sum::<f64>() / 442.0;
        assert!((mean - 152.133).abs() < 1e-3, "{mean}");
        for d in DATASETS {
            let (x, y) = load(d.name).unwrap();
            assert_eq!((x.nrows(), x.ncols(), y.ncols()), (d.n, d.d, d.targets));
        }
    }
}

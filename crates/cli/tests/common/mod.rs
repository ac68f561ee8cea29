//! Helpers shared by the command-line tests.
#![allow(dead_code)] // each test binary uses a different subset

use assert_cmd::Command;
use faer::Mat;
use std::path::Path;

/// Read a float64 .npy with npyz (C order) as N × (product of the other axes).
pub fn read_npy(path: impl AsRef<Path>) -> Mat<f64> {
    let file = std::fs::File::open(path.as_ref()).unwrap();
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file)).unwrap();
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    assert_eq!(npy.order(), npyz::Order::C);
    let v = npy.into_vec::<f64>().unwrap();
    let cols: usize = shape[1..].iter().product();
    Mat::from_fn(shape[0], cols, |i, j| v[i * cols + j])
}

/// A fixture file by name (see `fixtures/make_fixtures.py`).
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The `fisherlab` binary.
pub fn fisherlab() -> Command {
    Command::cargo_bin("fisherlab").unwrap()
}

/// Run and expect success; stdout.
pub fn run_ok<S: AsRef<str>>(args: &[S]) -> String {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = fisherlab().args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Bad input: exit code 2, nothing on stdout, exactly one line on stderr containing `needle`.
pub fn run_bad<S: AsRef<str>>(args: &[S], needle: &str) {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = fisherlab().args(&args).output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "{args:?}: not one line: {err}"
    );
    assert!(err.contains(needle), "{args:?}: `{err}` lacks `{needle}`");
}

/// Write a C-order .npy of dtype `descr` (e.g. `<f8`) and `shape` (a Python tuple, e.g.
/// `(3, 2)` or `(3,)`) around the little-endian `data` (format version 1.0, written here from
/// NumPy's format description).
fn write_npy_bytes(path: impl AsRef<Path>, descr: &str, shape: &str, data: &[u8]) {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&header);
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// Write a float64 C-order .npy of shape `(rows, cols)`.
pub fn write_npy(path: impl AsRef<Path>, rows: usize, cols: usize, data: &[f64]) {
    assert_eq!(data.len(), rows * cols);
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy_bytes(path, "<f8", &format!("({rows}, {cols})"), &bytes);
}

/// Write int64 labels as a 1-D C-order .npy of shape `(n,)`.
pub fn write_labels(path: impl AsRef<Path>, labels: &[i64]) {
    let bytes: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy_bytes(path, "<i8", &format!("({},)", labels.len()), &bytes);
}

/// A CNN for the embedded digits (1 × 8 × 8) as PyTorch prints it (the model of
/// docs/layers.md): P = 4·9 + 4 + 64·10 + 10 = 690.
pub const DIGITS_CNN: &str = "Sequential(
  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): Linear(in_features=64, out_features=10, bias=True)
)
";

/// The tensors of a safetensors file, sorted by name, without its metadata (which records the
/// command line and the thread count): what two runs must agree on bit for bit.
pub fn tensors(bytes: &[u8]) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let mut v: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| (name, t.shape().to_vec(), t.data().to_vec()))
        .collect();
    v.sort();
    v
}

/// The `provenance` metadata of a safetensors file, as JSON.
pub fn safetensors_provenance(bytes: &[u8]) -> serde_json::Value {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let text = meta.metadata().as_ref().unwrap()["fisherlab"].clone();
    serde_json::from_str(&text).unwrap()
}

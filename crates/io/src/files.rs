//! File formats: NumPy `.npy` matrices in and out, `safetensors` weights with PyTorch
//! `nn.Sequential` names. Every output is written to a temporary file in the target directory and
//! renamed into place, so a failed run never leaves a partial file.

use crate::Error;
use faer::{Mat, MatRef};
use fisherlab_autodiff::layers::Network;
use npyz::{DType, NpyFile, TypeChar};
use safetensors::{Dtype, SafeTensors};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

fn input(msg: String) -> Error {
    Error::Input(msg)
}

/// Read a 1-D or 2-D `.npy` array of floats or integers as an N × k matrix (a 1-D array is one
/// column). C and Fortran order are both accepted.
pub fn read_matrix(path: &Path, what: &str) -> Result<Mat<f64>, Error> {
    let (shape, m) = read_array(path, what)?;
    if shape.len() > 2 {
        return Err(input(format!(
            "{what} file {}: array has shape {shape:?}, must be 1-D or 2-D",
            path.display()
        )));
    }
    Ok(m)
}

/// Read network inputs: an array of shape `(N, *sample_shape)` as N rows of the C-order
/// flattening of each sample, with the per-sample shape (`[1]` for a 1-D array).
pub fn read_inputs(path: &Path) -> Result<(Mat<f64>, Vec<usize>), Error> {
    let (shape, m) = read_array(path, "inputs")?;
    let sample = if shape.len() > 1 {
        shape[1..].to_vec()
    } else {
        vec![1]
    };
    Ok((m, sample))
}

/// Read a `.npy` array of any rank ≥ 1 as its shape and an N × (product of the other axes)
/// matrix, each row the C-order flattening of one entry of the first axis.
fn read_array(path: &Path, what: &str) -> Result<(Vec<usize>, Mat<f64>), Error> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| input(format!("{what} file {shown}: cannot open: {e}")))?;
    let len = file
        .metadata()
        .map_err(|e| input(format!("{what} file {shown}: cannot open: {e}")))?
        .len();
    decode_npy(BufReader::new(file), len, what, &shown)
}

/// Longest `.npy` header read (NumPy writes about a hundred bytes).
const MAX_NPY_HEADER: u64 = 1 << 16;

/// The header's length from the magic string and version, before the header itself is read.
fn npy_header_len(prefix: &[u8]) -> Result<u64, String> {
    if prefix.len() < 10 || &prefix[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (no \\x93NUMPY magic string)".into());
    }
    match prefix[6] {
        1 => Ok(10 + u64::from(u16::from_le_bytes([prefix[8], prefix[9]]))),
        2 | 3 if prefix.len() >= 12 => Ok(12
            + u64::from(u32::from_le_bytes([
                prefix[8], prefix[9], prefix[10], prefix[11],
            ]))),
        v => Err(format!("not a .npy file (format version {v}.x is unknown)")),
    }
}

/// The header dictionary of an array of a plain dtype nests at most two levels (`{…(…)…}`);
/// anything deeper (structured dtypes, or garbage) is refused before a parser recurses into it.
fn plain_npy_dict(head: &[u8]) -> Result<(), String> {
    let (mut depth, mut deepest, mut dicts) = (0i32, 0i32, 0);
    // past the magic string, the version and the length (2 bytes in 1.0, 4 in 2.0 and 3.0)
    let start = if head.get(6) == Some(&1) { 10 } else { 12 };
    for &b in head.iter().skip(start) {
        match b {
            b'{' | b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
                dicts += i32::from(b == b'{');
            }
            b'}' | b')' | b']' => depth -= 1,
            _ => {}
        }
    }
    if deepest > 2 || dicts != 1 || depth != 0 {
        return Err(
            "the header is not a plain NumPy dictionary {'descr': …, 'fortran_order': …, 'shape': (…)} (structured dtypes are not supported)"
                .into(),
        );
    }
    plain_npy_shape(&head[start.min(head.len())..])
}

/// The header's shape must be what NumPy writes, a tuple of plain decimal integers, whose
/// product fits in 64 bits: the header parser would otherwise evaluate expressions such as
/// `4+++44` and multiply the dimensions without an overflow check.
fn plain_npy_shape(dict: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(dict);
    let Some(key) = text.find("'shape'").or_else(|| text.find("\"shape\"")) else {
        return Ok(()); // no shape: the header parser names what is missing
    };
    let rest = &text[key + 7..];
    let tuple = rest
        .find('(')
        .zip(rest.find(')'))
        .filter(|(open, close)| open < close && rest[..*open].trim() == ":")
        .map(|(open, close)| &rest[open + 1..close]);
    let Some(tuple) = tuple else {
        return Err("the header's shape is not a tuple (…)".into());
    };
    let mut product = 1u64;
    for part in tuple.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad =
            || format!("the header's shape ({tuple}) is not a tuple of non-negative integers");
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let d: u64 = part.parse().map_err(|_| bad())?;
        product = product
            .checked_mul(d)
            .ok_or_else(|| format!("the header's shape ({tuple}) holds more than 2^64 numbers"))?;
    }
    Ok(())
}

/// Decode a `.npy` file of `len` bytes (`shown` names it in errors): the header's length, the
/// shape and the data it declares are checked against `len` and the memory budget before
/// anything of that size is allocated.
pub fn decode_npy(
    mut reader: impl std::io::BufRead,
    len: u64,
    what: &str,
    shown: &str,
) -> Result<(Vec<usize>, Mat<f64>), Error> {
    let prefix = reader
        .fill_buf()
        .map_err(|e| input(format!("{what} file {shown}: cannot read: {e}")))?;
    let header = npy_header_len(&prefix[..prefix.len().min(12)])
        .map_err(|e| input(format!("{what} file {shown}: {e}")))?;
    if header > MAX_NPY_HEADER || header > len {
        return Err(input(format!(
            "{what} file {shown}: the header declares {header} bytes, the file holds {len} (a .npy header is at most {MAX_NPY_HEADER})"
        )));
    }
    // the header, read whole and checked to be a plain dictionary before npyz parses it
    let mut head = vec![0u8; header as usize];
    reader
        .read_exact(&mut head)
        .map_err(|e| input(format!("{what} file {shown}: cannot read the header: {e}")))?;
    plain_npy_dict(&head).map_err(|e| input(format!("{what} file {shown}: {e}")))?;
    let npy = NpyFile::new(std::io::Cursor::new(head).chain(reader))
        .map_err(|e| input(format!("{what} file {shown}: not a .npy file: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if shape.is_empty() {
        return Err(input(format!(
            "{what} file {shown}: a 0-D array holds no rows"
        )));
    }
    let rows = shape[0];
    let cols = shape[1..]
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&c| rows.checked_mul(c).is_some())
        .ok_or_else(|| input(format!("{what} file {shown}: shape {shape:?} is too large")))?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let bad_dtype = |d: &DType| {
        input(format!(
            "{what} file {shown}: dtype {} is not supported (float64, float32, int64 or int32)",
            d.descr()
        ))
    };
    let dtype = npy.dtype();
    let item = match &dtype {
        DType::Plain(ts) => ts.size_field(),
        _ => return Err(bad_dtype(&dtype)),
    };
    // the data the header declares must be in the file, and its decoded copies in memory
    let numbers = (rows as u64).saturating_mul(cols as u64);
    if numbers.saturating_mul(item) > len - header {
        return Err(input(format!(
            "{what} file {shown}: shape {shape:?} of {} needs {} of data, the file holds {}",
            dtype.descr(),
            fisherlab_linalg::memory::human(numbers.saturating_mul(item)),
            fisherlab_linalg::memory::human(len - header)
        )));
    }
    fisherlab_linalg::memory::reserve(
        format!("{what} file {shown} (shape {shape:?}, read and stored as float64)"),
        numbers.checked_mul(16),
    )
    .map_err(|e| input(e.to_string()))?;
    let read_err = |e: std::io::Error| input(format!("{what} file {shown}: {e}"));
    let values: Vec<f64> = match &dtype {
        DType::Plain(ts) => match (ts.type_char(), ts.size_field()) {
            (TypeChar::Float, 8) => npy.into_vec::<f64>().map_err(read_err)?,
            (TypeChar::Float, 4) => npy
                .into_vec::<f32>()
                .map_err(read_err)?
                .into_iter()
                .map(f64::from)
                .collect(),
            (TypeChar::Int, 8) => npy
                .into_vec::<i64>()
                .map_err(read_err)?
                .into_iter()
                .map(|v| v as f64)
                .collect(),
            (TypeChar::Int, 4) => npy
                .into_vec::<i32>()
                .map_err(read_err)?
                .into_iter()
                .map(f64::from)
                .collect(),
            _ => return Err(bad_dtype(&dtype)),
        },
        _ => return Err(bad_dtype(&dtype)),
    };
    if values.len() != rows * cols {
        return Err(input(format!(
            "{what} file {shown}: {} values for shape {shape:?}",
            values.len()
        )));
    }
    // Fortran order: the first axis varies fastest, so entry (i, rest) sits at i + rows·f(rest)
    // where f is the Fortran offset of the remaining axes (the column index itself for 2-D)
    let m = if fortran {
        let tail = &shape[1..];
        let mut fortran_of = vec![0usize; cols];
        for (c, f) in fortran_of.iter_mut().enumerate() {
            let (mut rest, mut stride) = (c, 1usize);
            let mut idx = vec![0; tail.len()];
            for (k, d) in tail.iter().enumerate().rev() {
                idx[k] = rest % d;
                rest /= d;
            }
            for (k, d) in tail.iter().enumerate() {
                *f += idx[k] * stride;
                stride *= d;
            }
        }
        Mat::from_fn(rows, cols, |i, j| values[i + rows * fortran_of[j]])
    } else {
        Mat::from_fn(rows, cols, |i, j| values[i * cols + j])
    };
    Ok((shape, m))
}

/// Write `m` as a float64 C-order `.npy` file (format 1.0), atomically, at disk speed: the header,
/// then the rows in blocks gathered by tiles from the column-major matrix into one contiguous
/// little-endian buffer each (no per-element writer calls). With `symmetric` (the caller
/// guarantees `m = mᵀ` exactly, as [`fisherlab_linalg::Dense`] stores it) each row is the
/// contiguous column of the same index, copied straight out.
pub fn write_matrix(path: &Path, m: MatRef<'_, f64>, symmetric: bool) -> Result<(), Error> {
    write_atomic(path, |w| {
        w.write_all(&npy_header(m.nrows(), m.ncols()))?;
        let (rows, cols) = (m.nrows(), m.ncols());
        if symmetric && rows == cols {
            let mut buf = vec![0u8; 8 * rows];
            for c in 0..cols {
                let col = m.col(c);
                for (chunk, i) in buf.chunks_exact_mut(8).zip(0..rows) {
                    chunk.copy_from_slice(&col[i].to_le_bytes());
                }
                w.write_all(&buf)?;
            }
            return Ok(());
        }
        // about 4 MB of rows per block
        let block = (NPY_BLOCK_BYTES / (8 * cols.max(1))).clamp(1, rows.max(1));
        let mut buf = vec![0u8; block * cols * 8];
        for r0 in (0..rows).step_by(block) {
            let rb = block.min(rows - r0);
            for c0 in (0..cols).step_by(TILE) {
                let cb = TILE.min(cols - c0);
                for c in c0..c0 + cb {
                    let col = m.col(c);
                    for r in 0..rb {
                        let at = (r * cols + c) * 8;
                        buf[at..at + 8].copy_from_slice(&col[r0 + r].to_le_bytes());
                    }
                }
            }
            w.write_all(&buf[..rb * cols * 8])?;
        }
        Ok(())
    })
}

const NPY_BLOCK_BYTES: usize = 4 << 20;
const TILE: usize = 64;

/// The `.npy` 1.0 header of a float64 C-order `rows × cols` array: magic, version, length, and
/// the dictionary padded with spaces to a multiple of 64 bytes, ending in a newline.
fn npy_header(rows: usize, cols: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let unpadded = 10 + dict.len() + 1;
    let len = dict.len() + 1 + (64 - unpadded % 64) % 64;
    let mut h = Vec::with_capacity(10 + len);
    h.extend_from_slice(b"\x93NUMPY\x01\x00");
    h.extend_from_slice(&(len as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(10 + len - 1, b' ');
    h.push(b'\n');
    h
}

/// Write through `f` into a temporary file next to `path`, then rename it into place.
pub fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<(), Error> {
    let shown = path.display();
    let dir = parent_dir(path);
    let fail = |e: std::io::Error| Error::Failed(format!("cannot write {shown}: {e}"));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        input(format!(
            "output {shown}: cannot create a file in {}: {e}",
            dir.display()
        ))
    })?;
    let _registered = crate::temporaries::Registered::new(tmp.path());
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        f(&mut w).map_err(fail)?;
        w.flush().map_err(fail)?;
    }
    // renamed into place whole; not fsynced (the kernel writes it back at its pace, as
    // numpy.save and PyTorch do): forcing a 600 MB Fisher to disk would double the wall time
    crate::temporaries::critical(|| tmp.persist(path)).map_err(|e| fail(e.error))?;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Before any work: `path` can become an output file — its folder exists.
pub fn check_output_file(path: &Path, flag: &str) -> Result<(), Error> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(input(format!(
            "--{flag} {}: the folder {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Before any work: `dest` can become an output folder — its parent exists, and `dest` is
/// either absent, an empty folder, or an earlier output (it holds `marker`). Anything else is
/// refused rather than replaced.
pub fn check_output_folder(dest: &Path, marker: &str) -> Result<(), Error> {
    let shown = dest.display();
    let parent = parent_dir(dest);
    if !parent.is_dir() {
        return Err(input(format!(
            "--out {shown}: the folder {} does not exist",
            parent.display()
        )));
    }
    if dest.exists() {
        if !dest.is_dir() {
            return Err(input(format!(
                "--out {shown} is a file, not a folder: choose another path"
            )));
        }
        let empty = std::fs::read_dir(dest)
            .map_err(|e| input(format!("--out {shown}: cannot read the folder: {e}")))?
            .next()
            .is_none();
        if !empty && !dest.join(marker).is_file() {
            return Err(input(format!(
                "--out {shown} exists and holds no {marker}, so it is not an earlier output: \
                 choose another folder"
            )));
        }
    }
    Ok(())
}

/// Fill a temporary folder next to `dest` through `f`, then move it into place as a whole,
/// replacing an earlier output (checked by [`check_output_folder`]). On any error nothing at
/// `dest` changes and the temporary folder is removed.
pub fn write_folder<E: From<Error>>(
    dest: &Path,
    marker: &str,
    f: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    check_output_folder(dest, marker)?;
    let shown = dest.display();
    let parent = parent_dir(dest);
    let fail = |e: std::io::Error| Error::Failed(format!("cannot write {shown}: {e}"));
    let tmp = tempfile::Builder::new()
        .prefix(".fisherlab-tmp-")
        .tempdir_in(parent)
        .map_err(|e| {
            input(format!(
                "--out {shown}: cannot create a folder in {}: {e}",
                parent.display()
            ))
        })?;
    let _registered = crate::temporaries::Registered::new(tmp.path());
    f(tmp.path())?;
    if dest.exists() {
        let old = tempfile::Builder::new()
            .prefix(".fisherlab-old-")
            .tempdir_in(parent)
            .map_err(fail)?;
        let _old_registered = crate::temporaries::Registered::new(old.path());
        let aside = old.path().join("previous");
        // a signal waits for the swap: never an earlier output moved aside and no new one
        crate::temporaries::critical(|| {
            std::fs::rename(dest, &aside).map_err(fail)?;
            if let Err(e) = std::fs::rename(tmp.path(), dest) {
                // put the earlier output back; `old` and `tmp` are removed on drop
                let _ = std::fs::rename(&aside, dest);
                return Err(fail(e));
            }
            Ok(())
        })?;
        drop(old);
    } else {
        crate::temporaries::critical(|| std::fs::rename(tmp.path(), dest)).map_err(fail)?;
    }
    // the temporary folder now lives at `dest`: do not let its guard remove it
    let _ = tmp.keep();
    Ok(())
}

/// Read the parameters of `net` from a safetensors file with PyTorch `state_dict` names
/// (`0.weight` (out × in, or out × in × k… for a convolution), `0.bias` (out), `3.1.weight`, …;
/// activations and pools hold no weights) into the public parameter order, and the buffers
/// (BatchNorm's `running_mean`, `running_var`) into `net`. float64 and float32 tensors are
/// accepted; every expected tensor must be present with its shape, and no other tensor may be
/// (BatchNorm's `num_batches_tracked` is skipped).
pub fn load_weights(path: &Path, net: &mut Network) -> Result<Vec<f64>, Error> {
    let shown = path.display().to_string();
    let len = std::fs::metadata(path)
        .map_err(|e| input(format!("weights file {shown}: cannot read: {e}")))?
        .len();
    fisherlab_linalg::memory::reserve(format!("reading weights file {shown}"), Some(len))
        .map_err(|e| input(e.to_string()))?;
    let bytes = std::fs::read(path)
        .map_err(|e| input(format!("weights file {shown}: cannot read: {e}")))?;
    weights_from_bytes(&bytes, &shown, net)
}

/// [`load_weights`] from the file's bytes (`shown` names it in errors).
pub fn weights_from_bytes(bytes: &[u8], shown: &str, net: &mut Network) -> Result<Vec<f64>, Error> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| input(format!("weights file {shown}: not a safetensors file: {e}")))?;
    let mut theta = vec![0.0; net.num_params()];
    let mut tensors = net.param_tensors();
    let buffers: Vec<(String, Vec<usize>)> = net
        .buffers()
        .into_iter()
        .map(|(name, v)| (name, vec![v.len()]))
        .collect();
    let mut buffer_values = Vec::new();
    for (name, shape, offset) in tensors
        .iter()
        .map(|(n, s, o)| (n, s, Some(*o)))
        .chain(buffers.iter().map(|(n, s)| (n, s, None)))
    {
        let t = st.tensor(name).map_err(|_| {
            input(format!(
                "weights file {shown}: tensor `{name}` is missing (the {net} network needs it with shape {shape:?})"
            ))
        })?;
        if t.shape() != shape.as_slice() {
            return Err(input(format!(
                "weights file {shown}: tensor `{name}` has shape {:?}, the {net} network needs {shape:?}",
                t.shape()
            )));
        }
        let values: Vec<f64> = match t.dtype() {
            Dtype::F64 => t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                .collect(),
            other => {
                return Err(input(format!(
                    "weights file {shown}: tensor `{name}` has dtype {other:?}, must be F64 or F32"
                )));
            }
        };
        let expected: usize = shape.iter().product();
        if values.len() != expected {
            return Err(input(format!(
                "weights file {shown}: tensor `{name}` holds {} numbers, its shape {shape:?} needs {expected}",
                values.len()
            )));
        }
        if let Some(k) = values.iter().position(|v| !v.is_finite()) {
            return Err(input(format!(
                "weights file {shown}: tensor `{name}` entry {k} is {}",
                values[k]
            )));
        }
        match offset {
            Some(offset) => theta[offset..offset + values.len()].copy_from_slice(&values),
            None => buffer_values.push((name.clone(), values)),
        }
    }
    for (name, values) in buffer_values {
        net.set_buffer(&name, &values)
            .map_err(|e| input(format!("weights file {shown}: {e}")))?;
    }
    let ignored = net.ignored_tensors();
    tensors.extend(buffers.into_iter().map(|(n, s)| (n, s, 0)));
    let mut extra: Vec<&str> = st
        .names()
        .into_iter()
        .filter(|n| !tensors.iter().any(|(e, _, _)| e == n) && !ignored.iter().any(|e| e == n))
        .collect();
    extra.sort_unstable();
    if let Some(name) = extra.first() {
        return Err(input(format!(
            "weights file {shown}: unexpected tensor `{name}`: the {net} network has {} tensors ({} … {})",
            tensors.len(),
            tensors.first().map_or("", |t| t.0.as_str()),
            tensors.last().map_or("", |t| t.0.as_str())
        )));
    }
    Ok(theta)
}

/// Write the parameters of `net` as float64 safetensors with PyTorch `state_dict` names, and its
/// buffers (BatchNorm's running statistics), atomically.
/// With `provenance`, the file's metadata holds it under the key `fisherlab` (as JSON text).
pub fn save_weights(
    path: &Path,
    net: &Network,
    theta: &[f64],
    provenance: Option<&serde_json::Value>,
) -> Result<(), Error> {
    let bytes = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = net
        .param_tensors()
        .into_iter()
        .map(|(name, shape, off)| {
            let len: usize = shape.iter().product();
            let data = bytes(&theta[off..off + len]);
            (name, shape, data)
        })
        .collect();
    tensors.extend(
        net.buffers()
            .into_iter()
            .map(|(name, v)| (name, vec![v.len()], bytes(&v))),
    );
    let views = tensors
        .iter()
        .map(|(name, shape, data)| {
            safetensors::tensor::TensorView::new(Dtype::F64, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| Error::Failed(format!("weights {}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let bytes = safetensors::serialize(views, provenance.map(crate::metadata))
        .map_err(|e| Error::Failed(format!("weights {}: {e}", path.display())))?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// PyTorch's default initialisation of `nn.Linear` and `nn.Conv*d` (weights and biases uniform
/// on `±1/√fan_in`, fan_in = inputs per output location), and of normalisation layers (scale 1,
/// shift 0), seeded: parameters for runs without a weights file.
pub fn default_init(net: &Network, seed: u64) -> Vec<f64> {
    use rand::RngExt;
    let mut rng = fisherlab_distributions::rng_from_seed(seed);
    let mut theta = vec![0.0; net.num_params()];
    for t in net.taps() {
        if let fisherlab_autodiff::layers::TapKind::ScaleShift { width, .. } = t.kind() {
            theta[t.offset..t.offset + width].fill(1.0);
            continue;
        }
        let bound = 1.0 / (t.inp() as f64).sqrt();
        for v in &mut theta[t.range()] {
            *v = rng.random_range(-bound..bound);
        }
    }
    theta
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A .npy file (format 1.0) with this header dictionary and `data` after it.
    fn npy_bytes(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut head = dict.to_string();
        while !(10 + head.len() + 1).is_multiple_of(64) {
            head.push(' ');
        }
        head.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((head.len() as u16).to_le_bytes());
        b.extend(head.bytes());
        b.extend(data);
        b
    }

    #[test]
    fn npy_shapes_that_are_expressions_or_overflow_are_refused() {
        // found by fuzzing: the header parser evaluated `4+++4…` and its shape product
        // overflowed; NumPy writes plain integers, and 2^32 · 2^32 does not fit in 64 bits
        for (shape, words) in [
            (
                "(444444, 4+++44448,)",
                "not a tuple of non-negative integers",
            ),
            ("(4294967296, 4294967296)", "more than 2^64 numbers"),
            ("(-3, 2)", "not a tuple of non-negative integers"),
            ("[3, 2]", "not a tuple"),
        ] {
            let dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
            let bytes = npy_bytes(&dict, &[0u8; 48]);
            let e = decode_npy(
                std::io::Cursor::new(&bytes[..]),
                bytes.len() as u64,
                "inputs",
                "x.npy",
            )
            .err()
            .unwrap_or_else(|| panic!("{shape} was accepted"));
            assert!(matches!(e, Error::Input(_)), "{shape}: {e}");
            assert!(e.to_string().contains(words), "{shape}: {e}");
        }
        // a plain shape still reads: 3 × 2 float64 zeros
        let dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }";
        let bytes = npy_bytes(dict, &[0u8; 48]);
        let (shape, m) = decode_npy(
            std::io::Cursor::new(&bytes[..]),
            bytes.len() as u64,
            "inputs",
            "x.npy",
        )
        .unwrap();
        assert_eq!((shape, m.nrows(), m.ncols()), (vec![3, 2], 3, 2));
    }

    #[test]
    fn matrices_written_in_blocks_read_back_bit_for_bit() {
        // shapes that leave partial row blocks and column tiles; read back by npyz's reader
        let dir = tempfile::tempdir().unwrap();
        for (r, c) in [(3usize, 130usize), (70, 5), (1, 1), (9000, 61)] {
            let m = Mat::from_fn(r, c, |i, j| {
                ((i * 31 + j * 17) as f64).sin() * 1e3 + j as f64
            });
            let path = dir.path().join(format!("m{r}x{c}.npy"));
            write_matrix(&path, m.as_ref(), false).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            // numpy's rule: the data starts at a multiple of 64 bytes
            let header = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
            assert_eq!(header % 64, 0);
            assert_eq!(bytes.len(), header + 8 * r * c);
            let back = read_matrix(&path, "m").unwrap();
            assert_eq!((back.nrows(), back.ncols()), (r, c));
            for j in 0..c {
                for i in 0..r {
                    assert_eq!(back[(i, j)].to_bits(), m[(i, j)].to_bits());
                }
            }
        }
        // the symmetric path writes each column as the row of its index
        let s = Mat::from_fn(300, 300, |i, j| ((i * j) as f64).cos() + (i + j) as f64);
        let path = dir.path().join("s.npy");
        write_matrix(&path, s.as_ref(), true).unwrap();
        let back = read_matrix(&path, "s").unwrap();
        assert!(back == s);
    }
}

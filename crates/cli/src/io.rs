//! File formats: NumPy `.npy` matrices in and out, `safetensors` weights with PyTorch
//! `nn.Sequential` names. Every output is written to a temporary file in the target directory and
//! renamed into place, so a failed run never leaves a partial file.

use crate::CliError;
use faer::Mat;
use fisherlab_autodiff::layers::Network;
use npyz::{DType, NpyFile, TypeChar, WriterBuilder};
use safetensors::{Dtype, SafeTensors};
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

fn input(msg: String) -> CliError {
    CliError::Input(msg)
}

/// Read a 1-D or 2-D `.npy` array of floats or integers as an N × k matrix (a 1-D array is one
/// column). C and Fortran order are both accepted.
pub fn read_matrix(path: &Path, what: &str) -> Result<Mat<f64>, CliError> {
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
pub fn read_inputs(path: &Path) -> Result<(Mat<f64>, Vec<usize>), CliError> {
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
fn read_array(path: &Path, what: &str) -> Result<(Vec<usize>, Mat<f64>), CliError> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| input(format!("{what} file {shown}: cannot open: {e}")))?;
    let npy = NpyFile::new(BufReader::new(file))
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
        .filter(|&c| rows.checked_mul(c).is_some_and(|t| t <= 1 << 32))
        .ok_or_else(|| input(format!("{what} file {shown}: shape {shape:?} is too large")))?;
    let fortran = npy.order() == npyz::Order::Fortran;
    let bad_dtype = |d: &DType| {
        input(format!(
            "{what} file {shown}: dtype {} is not supported (float64, float32, int64 or int32)",
            d.descr()
        ))
    };
    let dtype = npy.dtype();
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

/// Write `m` as a float64 C-order `.npy` file, atomically.
pub fn write_matrix(path: &Path, m: &Mat<f64>) -> Result<(), CliError> {
    write_atomic(path, |w| {
        let mut writer = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[m.nrows() as u64, m.ncols() as u64])
            .writer(w)
            .begin_nd()?;
        for i in 0..m.nrows() {
            for j in 0..m.ncols() {
                writer.push(&m[(i, j)])?;
            }
        }
        writer.finish()
    })
}

/// Write through `f` into a temporary file next to `path`, then rename it into place.
pub fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let shown = path.display();
    let dir = parent_dir(path);
    let fail = |e: std::io::Error| CliError::Failed(format!("cannot write {shown}: {e}"));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        input(format!(
            "output {shown}: cannot create a file in {}: {e}",
            dir.display()
        ))
    })?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        f(&mut w).map_err(fail)?;
        w.flush().map_err(fail)?;
    }
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Before any work: `dest` can become an output folder — its parent exists, and `dest` is
/// either absent, an empty folder, or an earlier output (it holds `marker`). Anything else is
/// refused rather than replaced.
pub fn check_output_folder(dest: &Path, marker: &str) -> Result<(), CliError> {
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
pub fn write_folder(
    dest: &Path,
    marker: &str,
    f: impl FnOnce(&Path) -> Result<(), CliError>,
) -> Result<(), CliError> {
    check_output_folder(dest, marker)?;
    let shown = dest.display();
    let parent = parent_dir(dest);
    let fail = |e: std::io::Error| CliError::Failed(format!("cannot write {shown}: {e}"));
    let tmp = tempfile::Builder::new()
        .prefix(".fisherlab-tmp-")
        .tempdir_in(parent)
        .map_err(|e| {
            input(format!(
                "--out {shown}: cannot create a folder in {}: {e}",
                parent.display()
            ))
        })?;
    f(tmp.path())?;
    if dest.exists() {
        let old = tempfile::Builder::new()
            .prefix(".fisherlab-old-")
            .tempdir_in(parent)
            .map_err(fail)?;
        let aside = old.path().join("previous");
        std::fs::rename(dest, &aside).map_err(fail)?;
        if let Err(e) = std::fs::rename(tmp.path(), dest) {
            // put the earlier output back; `old` and `tmp` are removed on drop
            let _ = std::fs::rename(&aside, dest);
            return Err(fail(e));
        }
        drop(old);
    } else {
        std::fs::rename(tmp.path(), dest).map_err(fail)?;
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
pub fn load_weights(path: &Path, net: &mut Network) -> Result<Vec<f64>, CliError> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| input(format!("weights file {shown}: cannot read: {e}")))?;
    let st = SafeTensors::deserialize(&bytes)
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
pub fn save_weights(path: &Path, net: &Network, theta: &[f64]) -> Result<(), CliError> {
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
                .map_err(|e| CliError::Failed(format!("weights {}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let bytes = safetensors::serialize(views, None)
        .map_err(|e| CliError::Failed(format!("weights {}: {e}", path.display())))?;
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

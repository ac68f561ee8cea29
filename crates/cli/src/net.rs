//! The network flags shared by `curvature`, `train` and `compare`: an MLP shorthand (`--arch`,
//! `--activation`) or a model as PyTorch prints it (`--model`, `--input-shape`).

use crate::CliError;
use clap::Args;
use fisherlab_autodiff::layers::{Network, parse_model};
use fisherlab_autodiff::network::Mlp;
use std::path::PathBuf;

use fisherlab_app::MAX_MODEL_TEXT;

#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct NetArgs {
    /// Layer widths of an MLP, input first, e.g. 64,64,10: a shorthand for a Sequential of
    /// Linear layers with --activation between them.
    #[arg(long, conflicts_with = "model")]
    pub arch: Option<String>,
    /// Hidden activation of --arch: identity, tanh, relu, sigmoid, softplus, gelu, silu,
    /// leaky_relu.
    #[arg(long, default_value = "tanh")]
    pub activation: String,
    /// A model as PyTorch's print(model) writes an nn.Sequential (Linear, Conv1d/2d, max and
    /// average pools, Flatten, Dropout, activations); weights named as its state_dict.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Per-sample input shape, e.g. 1,8,8 (default: the dataset's natural shape, or the
    /// trailing axes of the inputs .npy).
    #[arg(long, value_name = "SHAPE")]
    pub input_shape: Option<String>,
}

/// A network and how it was given.
pub struct Built {
    pub net: Network,
    /// The `--arch` string, if the network is the MLP shorthand.
    pub arch: Option<String>,
}

impl NetArgs {
    /// The network for inputs whose per-sample shape is `data_shape` (`default_arch` when
    /// neither --arch nor --model is given).
    pub fn build(
        &self,
        data_shape: &[usize],
        default_arch: Option<&str>,
    ) -> Result<Built, CliError> {
        let input = |m: String| CliError::Input(m);
        if let Some(path) = &self.model {
            let shown = path.display();
            let meta = std::fs::metadata(path)
                .map_err(|e| input(format!("model file {shown}: cannot open: {e}")))?;
            if meta.len() > MAX_MODEL_TEXT {
                return Err(input(format!(
                    "model file {shown}: {} bytes is not a printed model (at most {MAX_MODEL_TEXT})",
                    meta.len()
                )));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| input(format!("model file {shown}: cannot read as text: {e}")))?;
            let seq = parse_model(&text).map_err(|e| input(format!("model file {shown}: {e}")))?;
            let shape = match &self.input_shape {
                Some(s) => parse_shape(s)?,
                None => data_shape.to_vec(),
            };
            let total: usize = shape.iter().product();
            let data_total: usize = data_shape.iter().product();
            if total != data_total {
                return Err(input(format!(
                    "--input-shape {shape:?} has {total} entries, the inputs have {data_total} per sample"
                )));
            }
            let net = seq.build(&shape).map_err(|e| {
                input(format!(
                    "model file {shown}: {e}{}",
                    shape_hint(&shape, self)
                ))
            })?;
            net.check_memory().map_err(|e| input(e.to_string()))?;
            return Ok(Built { net, arch: None });
        }
        if self.input_shape.is_some() {
            return Err(input(
                "--input-shape applies to --model only (an --arch MLP takes flat inputs)".into(),
            ));
        }
        let arch = self
            .arch
            .clone()
            .or(default_arch.map(str::to_string))
            .ok_or_else(|| input("give the network: --arch WIDTHS or --model FILE".into()))?;
        let mlp = Mlp::parse(&arch, &self.activation).map_err(|e| input(e.to_string()))?;
        // the parameters are allocated by whatever comes next: refuse a network too large first
        let net = mlp.network();
        net.check_memory().map_err(|e| input(e.to_string()))?;
        Ok(Built {
            net,
            arch: Some(arch),
        })
    }
}

fn shape_hint(shape: &[usize], args: &NetArgs) -> String {
    if shape.len() == 1 && args.input_shape.is_none() {
        format!(
            " (the inputs are flat vectors of {}; give their per-sample shape with --input-shape, e.g. 1,{})",
            shape[0], shape[0]
        )
    } else {
        String::new()
    }
}

/// `1,8,8` → `[1, 8, 8]`.
pub fn parse_shape(s: &str) -> Result<Vec<usize>, CliError> {
    let v: Option<Vec<usize>> = s
        .split(',')
        .map(|p| p.trim().parse::<usize>().ok().filter(|&d| d > 0))
        .collect();
    v.filter(|v| !v.is_empty()).ok_or_else(|| {
        CliError::Input(format!(
            "--input-shape `{s}` is invalid: must be comma-separated positive integers, e.g. 1,8,8"
        ))
    })
}

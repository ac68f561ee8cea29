//! Entry points of every parser that reads user files or text, for coverage-guided fuzzing
//! (`fuzz/`, cargo fuzz) and for replaying the committed corpora in the tests: each takes
//! arbitrary bytes and must return, never panic, loop or allocate beyond what the bytes
//! justify. Each returns whether the input was accepted.

use fisherlab_autodiff::layers::{Network, parse_model};
use fisherlab_symbolic::{Symbols, parse, score_and_hessian};
use std::io::Cursor;
use std::sync::OnceLock;

/// The network the safetensors target loads into: every layer kind with weights or buffers
/// (convolution, batch normalisation, layer normalisation, linear).
pub const WEIGHTS_MODEL: &str = "Sequential(
  (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): LayerNorm((32,), eps=1e-05, elementwise_affine=True)
  (5): Linear(in_features=32, out_features=3, bias=True)
)";

/// The input shape of [`WEIGHTS_MODEL`].
pub const WEIGHTS_INPUT: [usize; 3] = [1, 4, 4];

/// The network of [`WEIGHTS_MODEL`].
///
/// # Panics
/// Never: the text is fixed and parsed by a test.
pub fn weights_network() -> Network {
    match parse_model(WEIGHTS_MODEL).and_then(|s| s.build(&WEIGHTS_INPUT)) {
        Ok(net) => net,
        Err(e) => unreachable!("the fixed fuzzing network does not build: {e}"),
    }
}

/// A `.npy` file's bytes.
pub fn npy(data: &[u8]) -> bool {
    crate::files::decode_npy(Cursor::new(data), data.len() as u64, "inputs", "fuzz.npy").is_ok()
}

/// A safetensors file's bytes, loaded into a copy of [`weights_network`].
pub fn safetensors(data: &[u8]) -> bool {
    static NET: OnceLock<Network> = OnceLock::new();
    let mut net = NET.get_or_init(weights_network).clone();
    crate::files::weights_from_bytes(data, "fuzz.safetensors", &mut net).is_ok()
}

/// A model text as PyTorch prints it, bound to a few input shapes.
pub fn model_text(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let Ok(seq) = parse_model(text) else {
        return false;
    };
    let mut built = false;
    for shape in [&[16][..], &[1, 16], &[1, 8, 8], &[3, 8, 8]] {
        built |= seq.build(shape).is_ok();
    }
    built
}

fn symbols() -> Option<Symbols> {
    Symbols::new("x", &["mu", "sigma"]).ok()
}

/// A log-density expression in `x` and the parameters `mu, sigma`: parsed, evaluated, and
/// differentiated twice as `fisherlab verify` does.
pub fn expression(data: &[u8]) -> bool {
    let (Ok(text), Some(symbols)) = (std::str::from_utf8(data), symbols()) else {
        return false;
    };
    let Ok(e) = parse(text, &symbols) else {
        return false;
    };
    let _ = e.eval(&[0.5, 0.1, 2.0]);
    let Ok((score, hessian)) = score_and_hessian(&e, &symbols) else {
        return true;
    };
    for d in score.iter().chain(hessian.iter().flatten()) {
        let _ = d.eval(&[0.5, 0.1, 2.0]);
    }
    true
}

/// A claimed Fisher matrix in the parameters `mu, sigma`.
pub fn claim(data: &[u8]) -> bool {
    let (Ok(text), Some(symbols)) = (std::str::from_utf8(data), symbols()) else {
        return false;
    };
    let Ok(rows) = fisherlab_fisher::verify::parse_claim(text, &symbols) else {
        return false;
    };
    for e in rows.iter().flatten() {
        let _ = e.eval(&[0.0, 0.1, 2.0]);
    }
    true
}

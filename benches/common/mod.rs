//! What several benchmarks share: deterministic pseudo-random numbers and PyTorch's default
//! initialisation scale.
#![allow(dead_code)] // each benchmark uses a part

use fisherlab::autodiff::layers::Network;

/// A deterministic number in [-0.5, 0.5) from three integers.
pub fn noise(i: usize, j: usize, seed: usize) -> f64 {
    let z = ((i * 7919 + j * 104_729 + seed * 1_299_709) % 10_007) as f64;
    z / 10_007.0 - 0.5
}

/// Parameters at PyTorch's default initialisation scale, ±1/√fan_in per layer.
pub fn fan_in_init(net: &Network) -> Vec<f64> {
    let mut theta = vec![0.0; net.num_params()];
    for t in net.taps() {
        let bound = 1.0 / (t.inp() as f64).sqrt();
        for q in t.range() {
            theta[q] = 2.0 * bound * noise(q, 0, 1);
        }
    }
    theta
}

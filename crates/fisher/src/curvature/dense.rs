use super::{Approximation, ChunkTaps, DEFAULT_CHUNK, Labels, Problem};
use crate::Result;
use faer::{Accum, Mat, MatMut};
use fisherlab_autodiff::batch::gemm;
use fisherlab_linalg::{CurvatureOperator, Dense, memory};

/// The dense Fisher by the Kronecker fast path for dense layers: exact with
/// [`Labels::Type2`], Monte Carlo with [`Labels::Mc`], empirical with
/// [`Labels::Empirical`].
///
/// The block between layers l ≤ m is `F_lm[(i,j),(p,q)] = (1/N) Σₙ Hₙ[i,p] āₙₗ[j] āₙₘ[q]` with
/// `Hₙ = Σₖ wₖ g̃ₙₖₗ g̃ₙₖₘᵀ`: per chunk, one GEMM of the rows `āₙₘ ⊗ āₙₗ` against the rows
/// `vec Hₙ`, then a scatter into the public order. That costs `P²·N` multiply-adds (half of it,
/// by symmetry) instead of the `P²·N·C` of stacking the rows `Lₙᵀ Jₙ`; memory is the P × P
/// result plus the largest layer-pair block. The generic route
/// [`super::exact_fisher`] is its test oracle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseFisher {
    /// Which Fisher.
    pub labels: Labels,
    /// Smallest chunk of samples per GEMM (default `4 ×` [`DEFAULT_CHUNK`] = 1024 samples: four
    /// of the streamed routes' chunks per GEMM, because the scatter of each chunk's blocks into
    /// F costs a pass over F; measured on the 64-64-64-10 MLP at N = 1 000, chunks of 256 take
    /// 7.4 s against 5.9 s; the problem's chunk size if larger).
    pub min_chunk: usize,
}

impl DenseFisher {
    /// The dense Fisher for these labels.
    pub fn new(labels: Labels) -> Self {
        Self {
            labels,
            min_chunk: 4 * DEFAULT_CHUNK,
        }
    }
    /// The same with another smallest chunk (≥ 1).
    pub fn with_min_chunk(self, min_chunk: usize) -> Self {
        Self { min_chunk, ..self }
    }
}

impl Approximation for DenseFisher {
    fn name(&self) -> &'static str {
        match self.labels {
            Labels::Type2 => "exact",
            Labels::Mc { .. } => "mc",
            Labels::Empirical => "empirical",
        }
    }
    fn memory_bytes(&self, problem: &Problem<'_>) -> Option<u64> {
        // the P × P result and one chunk's per-sample gradient rows
        let p = problem.model().num_params();
        let chunk = problem
            .chunk_size()
            .max(self.min_chunk)
            .min(problem.len().max(1));
        memory::dense_bytes(p, p)?.checked_add(memory::dense_bytes(chunk, p)?)
    }
    fn build(&self, problem: &Problem<'_>) -> Result<Box<dyn CurvatureOperator>> {
        super::memory_check(self, problem)?;
        let net = problem.model().net();
        let p = net.num_params();
        let taps = net.taps();
        let layers = taps.len();
        let ranges: Vec<_> = taps.iter().map(|t| t.range()).collect();
        // blocks l ≤ m accumulate in place (upper block triangle), mirrored at the end: memory
        // is the P × P result plus one chunk's pair buffers
        let mut f = Mat::<f64>::zeros(p, p);
        let scale = 1.0 / problem.len() as f64;
        // the scatter into F costs one pass over each block per chunk, the GEMM `chunk` passes:
        // chunks of at least `min_chunk` (4 default chunks) keep the scatter small (the pair buffers are then
        // 1024 · (outₗoₘ + Iₗ Iₘ) numbers, far below the P × P result)
        let problem = problem.with_chunk(problem.chunk_size().max(self.min_chunk))?;
        let shared: Vec<bool> = taps.iter().map(|t| !t.rank_one()).collect();
        problem.for_each_chunk(self.labels, |chunk| {
            // layers shared over locations: per-sample gradient rows, public order, weighted
            let rows: Vec<Option<Mat<f64>>> = (0..layers)
                .map(|l| {
                    (shared[l] || shared.iter().any(|&s| s))
                        .then(|| chunk.layer_gradient_rows(l, (scale * chunk.weight).sqrt()))
                })
                .collect();
            for l in 0..layers {
                for m in l..layers {
                    let (rl, rm) = (&ranges[l], &ranges[m]);
                    let view = f
                        .as_mut()
                        .submatrix_mut(rl.start, rm.start, rl.len(), rm.len());
                    match (&rows[l], &rows[m]) {
                        (Some(jl), Some(jm)) if shared[l] || shared[m] => {
                            gemm(view, Accum::Add, jl.transpose(), jm.as_ref(), 1.0);
                        }
                        _ => accumulate_block(chunk, l, m, scale, view),
                    }
                }
            }
            Ok(())
        })?;
        for l in 0..layers {
            for m in l + 1..layers {
                mirror_block(&mut f, ranges[l].clone(), ranges[m].clone());
            }
        }
        // each diagonal block was accumulated whole, symmetric up to the GEMM's rounding
        for r in &ranges {
            symmetrize_block(&mut f, r.clone());
        }
        Ok(Box::new(Dense::from_symmetric(f)?))
    }
}

/// `F[cols, rows] = F[rows, cols]ᵀ` by square tiles, so that neither side is walked with a
/// stride of P for long.
fn mirror_block(f: &mut Mat<f64>, rows: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
    const TILE: usize = 32;
    for j0 in cols.clone().step_by(TILE) {
        let j1 = (j0 + TILE).min(cols.end);
        for i0 in rows.clone().step_by(TILE) {
            let i1 = (i0 + TILE).min(rows.end);
            for i in i0..i1 {
                for j in j0..j1 {
                    f[(j, i)] = f[(i, j)];
                }
            }
        }
    }
}

/// `F[r, r] ← (F[r, r] + F[r, r]ᵀ)/2` by square tiles.
fn symmetrize_block(f: &mut Mat<f64>, r: std::ops::Range<usize>) {
    const TILE: usize = 32;
    for j0 in r.clone().step_by(TILE) {
        let j1 = (j0 + TILE).min(r.end);
        for i0 in (r.start..j1).step_by(TILE) {
            let i1 = (i0 + TILE).min(r.end);
            for j in j0..j1 {
                for i in i0..i1.min(j) {
                    let v = 0.5 * (f[(i, j)] + f[(j, i)]);
                    f[(i, j)] = v;
                    f[(j, i)] = v;
                }
            }
        }
    }
}

/// `block += scale · Σₙ Hₙ ⊗ āₙₗ āₙₘᵀ` over one chunk of two layers with one location each,
/// scattered into the public order within the two layers (weight row-major, then bias).
pub(super) fn accumulate_block(
    chunk: &ChunkTaps,
    l: usize,
    m: usize,
    scale: f64,
    mut block: MatMut<'_, f64>,
) {
    let (al, am) = (chunk.abar[l], chunk.abar[m]);
    let n = al.nrows();
    let (il, im) = (al.ncols(), am.ncols()); // Iₗ + bias, Iₘ + bias
    let (ol, om) = (chunk.grads[0][l].ncols(), chunk.grads[0][m].ncols());
    // rows vec Hₙ: column i·oₘ + p holds Σₖ wₖ g̃ₙₖₗ[i] g̃ₙₖₘ[p]
    let mut h = Mat::<f64>::zeros(n, ol * om);
    for g in &chunk.grads {
        let (gl, gm) = (&g[l], &g[m]);
        for i in 0..ol {
            for p in 0..om {
                let col = i * om + p;
                for s in 0..n {
                    h[(s, col)] += chunk.weight * gl[(s, i)] * gm[(s, p)];
                }
            }
        }
    }
    // rows āₙₘ ⊗ āₙₗ: column q·Iₗ + j holds āₙₗ[j] āₙₘ[q]
    let a = Mat::from_fn(n, il * im, |s, col| al[(s, col % il)] * am[(s, col / il)]);
    // Mᵀ[(q, j), (i, p)] = Σₙ āₙₗ[j] āₙₘ[q] Hₙ[i, p]
    let mut mt = Mat::<f64>::zeros(il * im, ol * om);
    gemm(
        mt.as_mut(),
        Accum::Replace,
        a.transpose(),
        h.as_ref(),
        scale,
    );
    // scatter: row (i, j) of layer l, column (p, q) of layer m; weights row-major, then biases
    let (inl, inm) = (chunk.taps[l].inp(), chunk.taps[m].inp());
    let bias_l = chunk.taps[l].bias();
    for i in 0..ol {
        for p in 0..om {
            let src = mt.col(i * om + p);
            for q in 0..im {
                let col = if q < inm { p * inm + q } else { om * inm + p };
                let seg = src.subrows(q * il, il);
                let mut dst = block.as_mut().col_mut(col);
                for j in 0..inl {
                    dst[i * inl + j] += seg[j];
                }
                if bias_l {
                    dst[ol * inl + i] += seg[inl];
                }
            }
        }
    }
}

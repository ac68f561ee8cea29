use crate::{CurvatureOperator, Error, Result, check_lambda, check_rows};
use faer::{Mat, MatRef};

/// A block-diagonal operator `diag(B₁, B₂, …)` of any operators (per-layer blocks, K-FAC).
///
/// Every operation is done block by block, exactly as each block does it.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{BlockDiagonal, CurvatureOperator, Diagonal};
/// let b = BlockDiagonal::new(vec![
///     Box::new(Diagonal::new(vec![1.0, 2.0]).unwrap()),
///     Box::new(Diagonal::new(vec![3.0]).unwrap()),
/// ]).unwrap();
/// assert_eq!(b.dim(), 3);
/// assert_eq!(b.eigenvalues().unwrap(), vec![1.0, 2.0, 3.0]);
/// ```
pub struct BlockDiagonal {
    blocks: Vec<Box<dyn CurvatureOperator>>,
    offsets: Vec<usize>,
}

impl BlockDiagonal {
    /// Blocks in order along the diagonal.
    ///
    /// # Errors
    /// No blocks.
    pub fn new(blocks: Vec<Box<dyn CurvatureOperator>>) -> Result<Self> {
        if blocks.is_empty() {
            return Err(Error::InvalidArgument {
                name: "blocks",
                value: "[]".into(),
                rule: "need at least one block",
            });
        }
        let mut offsets = vec![0];
        for b in &blocks {
            offsets.push(offsets.last().copied().unwrap_or(0) + b.dim());
        }
        Ok(Self { blocks, offsets })
    }
    /// The blocks.
    pub fn blocks(&self) -> &[Box<dyn CurvatureOperator>] {
        &self.blocks
    }
    /// Row offset of each block (and the total dimension last).
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }
    fn per_block(
        &self,
        x: MatRef<'_, f64>,
        f: impl Fn(&dyn CurvatureOperator, MatRef<'_, f64>) -> Result<Mat<f64>>,
    ) -> Result<Mat<f64>> {
        check_rows("right-hand side", self.dim(), x)?;
        let mut out = Mat::zeros(x.nrows(), x.ncols());
        for (b, w) in self.blocks.iter().zip(self.offsets.windows(2)) {
            let y = f(b.as_ref(), x.subrows(w[0], w[1] - w[0]))?;
            out.as_mut().subrows_mut(w[0], w[1] - w[0]).copy_from(&y);
        }
        Ok(out)
    }
}

impl CurvatureOperator for BlockDiagonal {
    fn kind(&self) -> &'static str {
        "block-diagonal"
    }
    fn dim(&self) -> usize {
        *self.offsets.last().unwrap_or(&0)
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        self.per_block(x, |b, xb| b.apply(xb))
    }
    fn to_dense(&self) -> Result<Mat<f64>> {
        let n = self.dim();
        let mut out = crate::memory::zeros("the dense block-diagonal matrix", n, n)?;
        for (b, w) in self.blocks.iter().zip(self.offsets.windows(2)) {
            let d = b.to_dense()?;
            let k = w[1] - w[0];
            out.as_mut().submatrix_mut(w[0], w[0], k, k).copy_from(&d);
        }
        Ok(out)
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        let mut v = Vec::with_capacity(self.dim());
        for b in &self.blocks {
            v.extend(b.diagonal()?);
        }
        Ok(v)
    }
    fn trace(&self) -> Result<f64> {
        self.blocks.iter().map(|b| b.trace()).sum()
    }
    fn frobenius_norm(&self) -> Result<f64> {
        let mut s = 0.0;
        for b in &self.blocks {
            s += b.frobenius_norm()?.powi(2);
        }
        Ok(s.sqrt())
    }
    fn solve_damped(&self, lambda: f64, v: MatRef<'_, f64>) -> Result<Mat<f64>> {
        check_lambda(lambda)?;
        self.per_block(v, |b, vb| b.solve_damped(lambda, vb))
    }
    fn inverse_damped(&self, lambda: f64) -> Result<Box<dyn CurvatureOperator>> {
        let inv = self
            .blocks
            .iter()
            .map(|b| b.inverse_damped(lambda))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(BlockDiagonal::new(inv)?))
    }
    fn logdet_damped(&self, lambda: f64) -> Result<f64> {
        self.blocks.iter().map(|b| b.logdet_damped(lambda)).sum()
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        let mut v = Vec::with_capacity(self.dim());
        for b in &self.blocks {
            v.extend(b.eigenvalues()?);
        }
        v.sort_by(f64::total_cmp);
        Ok(v)
    }
    /// The k largest of the blocks' k largest (each block by its own method).
    fn top_eigenvalues(&self, k: usize) -> Result<Vec<f64>> {
        let mut v = Vec::new();
        for b in &self.blocks {
            v.extend(b.top_eigenvalues(k.min(b.dim()))?);
        }
        v.sort_by(|a, b| b.total_cmp(a));
        v.truncate(k);
        Ok(v)
    }
}

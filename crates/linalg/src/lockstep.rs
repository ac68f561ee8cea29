//! Products of one operator shared by several iterations that run side by side, each in its own
//! thread, and batched: every round, the vectors of all iterations still running go through the
//! operator as one block. For an operator whose product streams a large factor from memory
//! (a Gram factor, a recorded forward pass), a block of k vectors costs about what one vector
//! costs, so k Krylov iterations (Lanczos runs, CG, quadrature probes) advance together for
//! the price of one.

use crate::{CurvatureOperator, Error, Result};
use faer::{Mat, MatRef};
use std::sync::{Condvar, Mutex};

/// What the handles share.
#[derive(Default)]
struct Round {
    /// Handles not yet dropped.
    active: usize,
    /// The block each handle submitted this round, by handle.
    submitted: Vec<Option<Mat<f64>>>,
    /// Each handle's result of the last round, until it takes it.
    results: Vec<Option<Result<Mat<f64>>>>,
    /// Rounds run so far.
    generation: u64,
    /// Columns multiplied so far.
    columns: usize,
    /// Rounds run so far (blocks through the operator).
    rounds: usize,
}

/// One operator's products batched over `handles` iterations, as in [`Lockstep::run`].
///
/// Each round waits until every handle still alive has submitted one product, then multiplies
/// them as one block in handle order. So the blocks, and with them every result, do not depend
/// on how the threads are scheduled: iterations that are deterministic alone stay so together.
///
/// # Examples
/// ```
/// use fisherlab_linalg::{conjugate_gradient, CgOptions, CurvatureOperator, Diagonal, Lockstep};
/// let f = Diagonal::new((1..=30).map(f64::from).collect()).unwrap();
/// let rhs: Vec<Vec<f64>> = (0..3).map(|k| vec![1.0 + k as f64; 30]).collect();
/// let lockstep = Lockstep::new(&f);
/// let xs = lockstep
///     .run(&rhs, |op, b| conjugate_gradient(op, 0.5, b, None, None, &CgOptions::default()))
///     .unwrap();
/// // the same solutions as alone, in a third of the rounds
/// for (b, x) in rhs.iter().zip(&xs) {
///     let alone = conjugate_gradient(&f, 0.5, b, None, None, &CgOptions::default()).unwrap();
///     assert_eq!(x.x, alone.x);
/// }
/// assert!(lockstep.rounds() < lockstep.columns());
/// ```
pub struct Lockstep<'a> {
    op: &'a dyn CurvatureOperator,
    round: Mutex<Round>,
    ready: Condvar,
}

impl<'a> Lockstep<'a> {
    /// Batch the products of `op`.
    pub fn new(op: &'a dyn CurvatureOperator) -> Self {
        Self {
            op,
            round: Mutex::new(Round::default()),
            ready: Condvar::new(),
        }
    }

    /// Run `work` on every item, each in its own thread with its own handle on the batched
    /// operator, and collect the results in item order.
    ///
    /// # Errors
    /// The first error of `work`, in item order.
    pub fn run<T: Sync, R: Send, E: Send>(
        &self,
        items: &[T],
        work: impl Fn(&dyn CurvatureOperator, &T) -> std::result::Result<R, E> + Sync,
    ) -> std::result::Result<Vec<R>, E> {
        {
            let mut r = self.lock();
            r.active = items.len();
            r.submitted = vec![None; items.len()];
            r.results = vec![None; items.len()];
        }
        let work = &work;
        std::thread::scope(|scope| {
            let threads: Vec<_> = items
                .iter()
                .enumerate()
                .map(|(id, item)| {
                    scope.spawn(move || {
                        let handle = Handle { batch: self, id };
                        work(&handle, item)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| match t.join() {
                    Ok(r) => r,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    }

    /// Columns multiplied so far (products, counted one per vector).
    pub fn columns(&self) -> usize {
        self.lock().columns
    }

    /// Blocks multiplied so far.
    pub fn rounds(&self) -> usize {
        self.lock().rounds
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Round> {
        self.round.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// With the lock held: when every live handle has submitted, multiply the block and hand
    /// the results back.
    fn maybe_run_round(&self, r: &mut Round) {
        let waiting = r.submitted.iter().filter(|s| s.is_some()).count();
        if waiting == 0 || waiting < r.active {
            return;
        }
        let ids: Vec<usize> = (0..r.submitted.len())
            .filter(|&i| r.submitted[i].is_some())
            .collect();
        let blocks: Vec<Mat<f64>> = ids
            .iter()
            .map(|&i| r.submitted[i].take().expect("submitted"))
            .collect();
        let widths: Vec<usize> = blocks.iter().map(Mat::ncols).collect();
        let total: usize = widths.iter().sum();
        let n = self.op.dim();
        let mut x = Mat::<f64>::zeros(n, total);
        let mut at = 0;
        for b in &blocks {
            x.as_mut().subcols_mut(at, b.ncols()).copy_from(b);
            at += b.ncols();
        }
        let y = self.op.apply(x.as_ref());
        let mut at = 0;
        for (&i, &w) in ids.iter().zip(&widths) {
            r.results[i] = Some(match &y {
                Ok(y) => Ok(y.as_ref().subcols(at, w).to_owned()),
                Err(e) => Err(e.clone()),
            });
            at += w;
        }
        r.columns += total;
        r.rounds += 1;
        r.generation += 1;
        self.ready.notify_all();
    }
}

/// One iteration's view of a [`Lockstep`] operator: its products wait for the round.
struct Handle<'b, 'a> {
    batch: &'b Lockstep<'a>,
    id: usize,
}

impl Drop for Handle<'_, '_> {
    fn drop(&mut self) {
        let mut r = self.batch.lock();
        r.active -= 1;
        self.batch.maybe_run_round(&mut r);
    }
}

fn only_products(operation: &'static str) -> Error {
    Error::NotAvailable {
        operator: "lockstep handle",
        operation,
        hint: "it only multiplies",
    }
}

impl CurvatureOperator for Handle<'_, '_> {
    fn kind(&self) -> &'static str {
        "lockstep"
    }
    fn dim(&self) -> usize {
        self.batch.op.dim()
    }
    fn apply(&self, x: MatRef<'_, f64>) -> Result<Mat<f64>> {
        crate::check_rows("block", self.dim(), x)?;
        let mut r = self.batch.lock();
        let generation = r.generation;
        r.submitted[self.id] = Some(x.to_owned());
        self.batch.maybe_run_round(&mut r);
        while r.generation == generation {
            r = self.batch.ready.wait(r).unwrap_or_else(|p| p.into_inner());
        }
        r.results[self.id]
            .take()
            .expect("a result for every submission")
    }
    fn diagonal(&self) -> Result<Vec<f64>> {
        Err(only_products("the diagonal"))
    }
    fn trace(&self) -> Result<f64> {
        Err(only_products("the trace"))
    }
    fn frobenius_norm(&self) -> Result<f64> {
        Err(only_products("the Frobenius norm"))
    }
    fn solve_damped(&self, _: f64, _: MatRef<'_, f64>) -> Result<Mat<f64>> {
        Err(only_products("a damped solve"))
    }
    fn inverse_damped(&self, _: f64) -> Result<Box<dyn CurvatureOperator>> {
        Err(only_products("the inverse"))
    }
    fn logdet_damped(&self, _: f64) -> Result<f64> {
        Err(only_products("the log-determinant"))
    }
    fn eigenvalues(&self) -> Result<Vec<f64>> {
        Err(only_products("the spectrum"))
    }
}

//! The second phase: the exact Fisher (dense or as products) and every approximation, built,
//! timed and measured against it.

use super::*;

/// The approximations shown next to the exact block in the heatmaps, with their titles.
pub(super) const HEATMAPS: [(&str, &str); 3] = [
    ("kfac", "K-FAC (type-2)"),
    ("ekfac", "EKFAC"),
    ("diag", "diagonal"),
];

/// What the second phase needs: the problem on the Fisher's inputs, the full-data gradient,
/// the approximations, and the options.
pub(super) struct Setting<'a> {
    pub(super) problem: &'a Problem<'a>,
    pub(super) gradient: &'a [f64],
    pub(super) entries: &'a [CatalogueEntry],
    pub(super) block_layer: usize,
    pub(super) args: &'a CompareArgs,
}

/// What the second phase measured.
pub(super) struct Measured {
    pub(super) rows: Vec<Row>,
    pub(super) spectra: Vec<(String, Vec<f64>)>,
    pub(super) blocks: Vec<(String, Mat<f64>)>,
    pub(super) metrics_seconds: f64,
    /// How the reference was made (route, products, options, skipped approximations).
    pub(super) reference: Value,
}

/// The heatmaps' blocks: the exact one first, then those of [`HEATMAPS`] that were built.
pub(super) fn heatmap_blocks(
    exact: Mat<f64>,
    heat: [Option<Mat<f64>>; 3],
) -> Vec<(String, Mat<f64>)> {
    std::iter::once(("exact".to_string(), exact))
        .chain(
            HEATMAPS
                .iter()
                .zip(heat)
                .filter_map(|((_, title), b)| b.map(|b| (title.to_string(), b))),
        )
        .collect()
}

/// Against the dense exact Fisher: every metric exact.
pub(super) fn compare_dense(s: &Setting<'_>) -> Result<Measured, CliError> {
    let (problem, args) = (s.problem, s.args);
    let g = Mat::from_fn(s.gradient.len(), 1, |i, _| s.gradient[i]);
    let bar = train::progress(s.entries.len() + 1, "fisher", args.quiet)?;
    bar.set_message("exact");
    let exact_route = DenseFisher::new(Labels::Type2);
    let (exact, exact_row) = timed_build(
        "exact",
        "the exact Fisher (reference)",
        &exact_route,
        problem,
        args.lambda,
        g.as_ref(),
        None,
    )?;
    let mut metrics_seconds = 0.0;
    let clock = Instant::now();
    let reference = Reference::new(
        exact.as_ref(),
        &CompareOptions {
            lambda: args.lambda,
            gradient: Some(s.gradient.to_vec()),
            random_directions: 16,
            seed: args.seed,
            spectrum: args.spectrum.0,
        },
    )?;
    metrics_seconds += clock.elapsed().as_secs_f64();
    bar.inc(1);
    let block_range = problem.model().net().taps()[s.block_layer].range();
    let (w_off, block_size) = (block_range.start, block_range.len());
    let mut heat: [Option<Mat<f64>>; 3] = [None, None, None];
    let exact_block = block(exact.as_ref(), w_off, block_size)?;
    let mut spectra = vec![("exact".to_string(), descending(reference.spectrum()))];
    let mut rows = vec![exact_row];
    for entry in s.entries {
        bar.set_message(entry.name);
        let (op, mut row) = timed_build(
            entry.name,
            entry.about,
            entry.approximation.as_ref(),
            problem,
            args.lambda,
            g.as_ref(),
            None,
        )?;
        let clock = Instant::now();
        let c = reference.compare(op.as_ref())?;
        metrics_seconds += clock.elapsed().as_secs_f64();
        spectra.push((entry.name.to_string(), descending(&c.spectrum_approx)));
        row.metrics = Some(Metrics::Dense(c));
        if let Some(k) = HEATMAPS.iter().position(|(n, _)| *n == entry.name) {
            heat[k] = Some(block(op.as_ref(), w_off, block_size)?);
        }
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Measured {
        rows,
        spectra,
        blocks: heatmap_blocks(exact_block, heat),
        metrics_seconds,
        reference: json!({
            "route": "dense",
            "about": "the exact Fisher formed (Kronecker fast path); every metric exact",
            "skipped": [],
        }),
    })
}

/// Against exact Fisher-vector products only: every metric estimated, with its uncertainty.
/// The products go through the Gram factor when it fits the memory budget, else through
/// forward-mode and backward passes; an approximation that does not fit is skipped and listed.
pub(super) fn compare_matrix_free(s: &Setting<'_>) -> Result<Measured, CliError> {
    use fisherlab_linalg::memory::reserve;
    let (problem, args) = (s.problem, s.args);
    let p = problem.model().num_params();
    let g = Mat::from_fn(p, 1, |i, _| s.gradient[i]);
    let bar = train::progress(s.entries.len() + 1, "fisher", args.quiet)?;
    bar.set_message("exact products");
    let gram = reserve("the Gram factor", GramFisher.memory_bytes(problem)).is_ok();
    let (route, route_about): (&dyn Approximation, &str) = if gram {
        (
            &GramFisher,
            "exact Fisher-vector products through the Gram factor F = UᵀU/N of the rows Lₙᵀ Jₙ (N·C × P)",
        )
    } else {
        (
            &MatrixFreeFisher,
            "exact Fisher-vector products by forward-mode and backward passes (the Gram factor does not fit the memory budget)",
        )
    };
    let start = Instant::now();
    let (exact, memory) = measure(|| route.build(problem));
    let build_seconds = start.elapsed().as_secs_f64();
    let exact = exact.map_err(|e| crate::budget::explain(e, problem))?;
    let exact_row = Row {
        name: "exact".into(),
        about: "the exact Fisher as products (reference), solves by CG: the matrix-free approximation itself".into(),
        build_seconds,
        // its CG runs beside the other iterations of the reference: see `reference`
        solve_seconds: f64::NAN,
        memory,
        metrics: None,
        estimated: true,
    };
    let options = args.probes().options(
        args.lambda,
        Some(s.gradient.to_vec()),
        16,
        args.seed,
        args.spectrum.0.unwrap_or(1).min(p),
    );
    let clock = Instant::now();
    let (reference, reference_memory) =
        measure(|| MatrixFreeReference::new(exact.as_ref(), &options));
    let reference = reference?;
    let reference_seconds = clock.elapsed().as_secs_f64();
    bar.inc(1);

    let layer = s.block_layer;
    let block_range = problem.model().net().taps()[layer].range();
    let (w_off, block_size) = (block_range.start, block_range.len());
    let clock = Instant::now();
    let exact_block = BlockDiagonalFisher::new(Labels::Type2)
        .block(problem, layer)
        .map_err(|e| crate::budget::explain(e, problem))?;
    let block_seconds = clock.elapsed().as_secs_f64();

    // every approximation that fits, built; then all compared at once (their products with
    // the exact Fisher batched)
    let mut built: Vec<(Box<dyn CurvatureOperator>, Row)> = Vec::new();
    let mut skipped = Vec::new();
    for entry in s.entries {
        bar.set_message(entry.name);
        if entry.name == "matrix-free" {
            skipped.push(json!({"approximation": entry.name, "reason": "the reference itself (exact products, CG solves): its row is `exact`"}));
            bar.inc(1);
            continue;
        }
        let need = entry.approximation.memory_bytes(problem);
        if let Err(e) = reserve(format!("{} at P = {p}", entry.name), need) {
            skipped.push(json!({"approximation": entry.name, "reason": e.to_string()}));
            bar.inc(1);
            continue;
        }
        // the exact products at hand serve the routes that need some (randomized low rank)
        built.push(timed_build(
            entry.name,
            entry.about,
            entry.approximation.as_ref(),
            problem,
            args.lambda,
            g.as_ref(),
            Some(exact.as_ref()),
        )?);
        bar.inc(1);
    }
    bar.set_message("metrics");
    let clock = Instant::now();
    let ops: Vec<&dyn CurvatureOperator> = built.iter().map(|(op, _)| op.as_ref()).collect();
    let compared = reference.compare_many(&ops)?;
    let compare_seconds = clock.elapsed().as_secs_f64();
    let metrics_seconds = reference_seconds + compare_seconds;
    let mut heat: [Option<Mat<f64>>; 3] = [None, None, None];
    let mut spectra = vec![("exact".to_string(), descending(reference.spectrum()))];
    let mut rows = vec![exact_row];
    for ((op, mut row), c) in built.into_iter().zip(compared) {
        spectra.push((row.name.clone(), descending(&c.spectrum_approx)));
        if let Some(k) = HEATMAPS.iter().position(|(n, _)| *n == row.name) {
            heat[k] = Some(block(op.as_ref(), w_off, block_size)?);
        }
        row.metrics = Some(Metrics::Free(Box::new(c)));
        row.estimated = true;
        rows.push(row);
    }
    bar.finish_and_clear();
    let reference = json!({
        "route": "matrix-free",
        "products": if gram { "gram" } else { "forward-mode" },
        "about": route_about,
        "fisher_inputs": problem.len(),
        "seconds": reference_seconds,
        "compare_seconds": compare_seconds,
        "peak_memory_mb": reference_memory.peak as f64 / 1e6,
        "exact_products": reference.products(),
        "natural_gradient_cg": reference.cg_summary(),
        "block_seconds": block_seconds,
        "options": {
            "probes": args.probes,
            "slq_probes": args.slq_probes,
            "slq_steps": args.slq_steps,
            "krylov_steps": args.krylov_steps,
            "lanczos_tol": options.lanczos.tol,
            "cg_tol": options.cg.tol,
            "random_directions": options.random_directions,
            "spectrum": options.spectrum,
        },
        "spectrum_failure": reference.spectrum_failure(),
        "skipped": skipped,
    });
    Ok(Measured {
        rows,
        spectra,
        blocks: heatmap_blocks(exact_block, heat),
        metrics_seconds,
        reference,
    })
}

/// `n` of the rows of `x` and `y`, drawn without replacement with `seed` and kept in their
/// order (all of them when `n` is their count).
pub(super) fn subset(
    x: MatRef<'_, f64>,
    y: MatRef<'_, f64>,
    n: usize,
    seed: u64,
) -> (Mat<f64>, Mat<f64>) {
    let total = x.nrows();
    if n >= total {
        return (x.to_owned(), y.to_owned());
    }
    let mut rng = fisherlab_distributions::rng_from_seed(seed ^ SUBSET_STREAM);
    let mut idx = rand::seq::index::sample(&mut rng, total, n).into_vec();
    idx.sort_unstable();
    (
        Mat::from_fn(n, x.ncols(), |i, j| x[(idx[i], j)]),
        Mat::from_fn(n, y.ncols(), |i, j| y[(idx[i], j)]),
    )
}

/// Mixed into --seed for the Fisher's subset of inputs.
pub(super) const SUBSET_STREAM: u64 = 0x005e_ed0f_f15e;

/// Build with time and memory, then time one damped solve of the gradient.
pub(super) fn timed_build(
    name: &str,
    about: &str,
    approximation: &dyn Approximation,
    problem: &Problem<'_>,
    lambda: f64,
    g: MatRef<'_, f64>,
    products: Option<&dyn CurvatureOperator>,
) -> Result<(Box<dyn CurvatureOperator>, Row), CliError> {
    let start = Instant::now();
    let (op, memory) = measure(|| match products {
        Some(f) => approximation.build_with_products(problem, f),
        None => approximation.build(problem),
    });
    let build_seconds = start.elapsed().as_secs_f64();
    let op = op.map_err(|e| match crate::budget::memory_error(&e) {
        Some(m) => crate::budget::compare_refusal(
            &format!("compare needs {name} ({about}) densely: "),
            m,
            problem,
        ),
        None => e.into(),
    })?;
    let start = Instant::now();
    op.solve_damped(lambda, g)
        .map_err(|e| CliError::Failed(format!("{name}: damped solve failed: {e}")))?;
    let solve_seconds = start.elapsed().as_secs_f64();
    Ok((
        op,
        Row {
            name: name.to_string(),
            about: about.to_string(),
            build_seconds,
            solve_seconds,
            memory,
            metrics: None,
            estimated: false,
        },
    ))
}

/// The `size × size` diagonal block starting at parameter `start`, from products with unit
/// vectors (no dense P × P copy).
pub(super) fn block(
    op: &dyn CurvatureOperator,
    start: usize,
    size: usize,
) -> Result<Mat<f64>, CliError> {
    let e = Mat::from_fn(
        op.dim(),
        size,
        |i, j| if i == start + j { 1.0 } else { 0.0 },
    );
    let cols = op
        .apply(e.as_ref())
        .map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(cols.as_ref().subrows(start, size).to_owned())
}

pub(super) fn descending(ascending: &[f64]) -> Vec<f64> {
    ascending.iter().rev().copied().collect()
}

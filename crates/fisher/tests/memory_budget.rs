//! The memory budget, end to end: with a budget below the dense Fisher, the dense routes are
//! refused before they allocate, with the bytes computed from the sizes alone, while the
//! structured ones still build. The budget is process-wide, so this binary holds one test.

mod common;

use common::{data, theta_for};
use fisherlab_autodiff::network::Mlp;
use fisherlab_distributions::heads::Head;
use fisherlab_fisher::Error;
use fisherlab_fisher::curvature::{
    Approximation, BlockDiagonalFisher, DenseFisher, DiagonalFisher, Kfac, Labels, LowRank,
    MatrixFreeFisher, Problem,
};
use fisherlab_fisher::model::{Model, hessian_of_mean_nll};
use fisherlab_linalg::memory;

#[test]
fn dense_routes_are_refused_before_allocating_and_structured_ones_fit() {
    // P = 10·50 + 50 + 50·10 + 10 = 1 060 parameters, N = 8 inputs
    let net = Mlp::parse("10,50,10", "tanh").unwrap();
    let theta = theta_for(&net, 1);
    let model = Model::new(net, Head::Categorical).unwrap();
    let x = data(8, 10);
    let y = faer::Mat::from_fn(8, 1, |i, _| (i % 10) as f64);
    let problem = Problem::new(&model, &theta, x.as_ref()).unwrap();
    let p = 1_060u64;
    // the dense Fisher's need by hand: the P × P result and one chunk of rows (N = 8 here)
    let dense_need = 8 * p * p + 8 * 8 * p;
    assert_eq!(
        DenseFisher::new(Labels::Type2).memory_bytes(&problem),
        Some(dense_need)
    );
    // a budget of 4 MB: below the 9.1 MB of the dense Fisher, above every structured route
    memory::set_budget(Some(4_000_000));
    let refused = |r: Result<_, Error>| match r {
        Err(Error::Linalg(fisherlab_linalg::Error::TooLarge(m))) => m,
        Err(e) => panic!("not a memory refusal: {e}"),
        Ok(_) => panic!("built beyond the budget"),
    };
    let m = refused(DenseFisher::new(Labels::Type2).build(&problem).map(|_| ()));
    assert_eq!((m.needed, m.budget), (dense_need, 4_000_000));
    assert!(m.to_string().contains("needs 9.1 MB"), "{m}");
    refused(LowRank::top_k(5).build(&problem).map(|_| ()));
    refused(hessian_of_mean_nll(&model, &theta, x.as_ref(), y.as_ref()).map(|_| ()));
    let e = refused(DenseFisher::new(Labels::Type2).build(&problem).map(|_| ()));
    assert!(Error::Linalg(e.into()).is_input());
    // the structured routes fit, and their dense copies are refused in turn
    let kfac = Kfac::new(Labels::Type2).build(&problem).unwrap();
    assert!(matches!(
        kfac.to_dense(),
        Err(fisherlab_linalg::Error::TooLarge(_))
    ));
    DiagonalFisher::new(Labels::Type2).build(&problem).unwrap();
    // two blocks of 550 and 510 parameters, held with their Cholesky factors:
    // (550² + 510²) · 16 bytes = 9 001 600 bytes, over the budget as well
    let m = refused(
        BlockDiagonalFisher::new(Labels::Type2)
            .build(&problem)
            .map(|_| ()),
    );
    assert_eq!(m.needed, (550 * 550 + 510 * 510) * 16);
    MatrixFreeFisher.build(&problem).unwrap();
    LowRank::randomized(5, 0).build(&problem).unwrap();
    // back to the machine's memory: the dense route builds
    memory::set_budget(None);
    DenseFisher::new(Labels::Type2).build(&problem).unwrap();
}

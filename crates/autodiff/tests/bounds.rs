//! The model-text parser's bounds: nesting and sizes beyond them are refused with a message
//! naming the bound, just below them accepted, so hostile text can neither exhaust the stack
//! nor make a later pass multiply sizes past `usize`.

use fisherlab_autodiff::layers::parse_model;

fn nested_model(depth: usize) -> String {
    let mut t = String::from("Sequential(\n");
    for k in 0..depth {
        t += &format!("{}(0): Sequential(\n", "  ".repeat(k + 1));
    }
    t += &format!(
        "{}(0): Linear(in_features=4, out_features=2, bias=True)\n",
        "  ".repeat(depth + 1)
    );
    for k in (0..=depth).rev() {
        t += &format!("{})\n", "  ".repeat(k));
    }
    t
}

#[test]
fn model_texts_are_bounded_in_nesting_and_sizes() {
    // 63 inner Sequentials under the outer one: 64 open containers at the Linear
    let net = parse_model(&nested_model(63)).unwrap().build(&[4]).unwrap();
    assert_eq!(net.num_params(), 4 * 2 + 2);
    let err = parse_model(&nested_model(64)).unwrap_err().to_string();
    assert!(err.contains("nest deeper than 64"), "{err}");
    let linear = |n: u64| {
        format!("Sequential(\n  (0): Linear(in_features={n}, out_features=2, bias=True)\n)\n")
    };
    assert!(parse_model(&linear(1 << 24)).is_ok());
    let err = parse_model(&linear((1 << 24) + 1)).unwrap_err().to_string();
    assert!(err.contains("is too large: at most 16777216"), "{err}");
    let err = parse_model(
        "Sequential(\n  (0): Conv1d(1, 2, kernel_size=((3,),), stride=(1,), padding=(0,))\n)\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("tuples do not nest"), "{err}");
    // every size within bounds but the product past 2⁴⁰: refused when built, not multiplied
    let wide =
        "Sequential(\n  (0): Linear(in_features=16777216, out_features=16777216, bias=True)\n)\n";
    let err = parse_model(wide)
        .unwrap()
        .build(&[1 << 24])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is too large (more than 2⁴⁰ numbers)"),
        "{err}"
    );
}

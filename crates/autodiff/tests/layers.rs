//! Every layer's batched passes against independent references: the forward pass against a
//! direct loop over PyTorch's definition written here, and the backward pass, the
//! Jacobian–vector product and the parameter gradient against forward-mode derivatives of the
//! network over dual numbers and against central differences (no autodiff at all), for every
//! option: stride, padding, dilation, no bias, one and two spatial axes.

use faer::Mat;
use fisherlab_autodiff::batch::{backward, backward_many, forward, jvp, param_gradient};
use fisherlab_autodiff::layers::{
    Activation, AdaptiveAvgPool, AvgPool, BatchNorm, Conv, Dropout, Flatten, LayerNorm, Linear,
    MaxPool, MeanPool, Network, Residual, Sequential, parse_model,
};
use fisherlab_autodiff::network::AtInput;
use fisherlab_autodiff::{Error, jacobian};

fn theta(net: &Network, seed: usize) -> Vec<f64> {
    (0..net.num_params())
        .map(|k| (((k * 37 + seed * 11) % 23) as f64 - 11.0) / 17.0)
        .collect()
}

fn inputs(n: usize, d: usize, seed: usize) -> Mat<f64> {
    Mat::from_fn(n, d, |i, j| {
        ((((i * 7 + j * 5 + seed * 3) % 13) as f64) - 6.0) / 5.0 + 0.013 * j as f64
    })
}

/// Check the batched passes of `net` against forward mode and central differences.
fn check(net: &Network, what: &str) {
    let n = 3;
    let p = net.num_params();
    let th = theta(net, 1);
    let x = inputs(n, net.input_dim(), 2);
    let c = net.output_dim();
    let fwd = forward(net, &th, x.as_ref());
    let v: Vec<f64> = (0..p).map(|k| ((k as f64) * 0.61).sin()).collect();
    let u = Mat::from_fn(n, c, |i, j| 0.3 - 0.2 * (i + 2 * j) as f64);
    let zdot = jvp(net, &th, &fwd, &v);
    let grad = param_gradient(net, &fwd, &backward(net, &th, &fwd, u.as_ref()));
    let mut grad_ref = vec![0.0; p];
    for s in 0..n {
        let xi: Vec<f64> = (0..x.ncols()).map(|j| x[(s, j)]).collect();
        // reference: the forward-mode Jacobian of the network written over dual numbers
        let (z, jac) = jacobian(&AtInput { net, x: &xi }, &th);
        for k in 0..c {
            assert!((fwd.outputs[(s, k)] - z[k]).abs() < 1e-13, "{what}: output");
            let jv: f64 = (0..p).map(|q| jac[(k, q)] * v[q]).sum();
            assert!(
                (zdot[(s, k)] - jv).abs() < 1e-11 * (1.0 + jv.abs()),
                "{what}: J v {} vs {jv}",
                zdot[(s, k)]
            );
            for q in 0..p {
                grad_ref[q] += jac[(k, q)] * u[(s, k)];
            }
        }
    }
    for q in 0..p {
        assert!(
            (grad[q] - grad_ref[q]).abs() < 1e-11 * (1.0 + grad_ref[q].abs()),
            "{what}: gradient entry {q}: {} vs {}",
            grad[q],
            grad_ref[q]
        );
    }
    // central differences of the batched forward pass along v: no derivative code involved
    let h = 1e-6;
    let shifted = |sign: f64| {
        let t: Vec<f64> = th.iter().zip(&v).map(|(a, b)| a + sign * h * b).collect();
        forward(net, &t, x.as_ref()).outputs
    };
    let fd = (shifted(1.0) - shifted(-1.0)) * faer::Scale(0.5 / h);
    let scale = 1.0 + fd.norm_max();
    assert!(
        (&zdot - &fd).norm_max() < 1e-6 * scale,
        "{what}: J v against central differences"
    );
    // stacked seeds give the same taps as one seed at a time
    let u2 = Mat::from_fn(n, c, |i, j| (i as f64 - j as f64) * 0.25);
    let many = backward_many(net, &th, &fwd, &[u.clone(), u2.clone()]);
    let one = backward(net, &th, &fwd, u2.as_ref());
    for (a, b) in many.iter().zip(&one) {
        let second = a.as_ref().subrows(b.nrows(), b.nrows());
        assert!((second - b).norm_max() < 1e-14, "{what}: stacked seeds");
    }
}

fn head(seq: Sequential, flat: usize) -> Sequential {
    seq.push(Flatten::default())
        .push(Activation::Tanh)
        .push(Linear::new(flat, 2, true))
}

#[test]
fn convolutions_for_every_option() {
    // (kernel, stride, padding, dilation, bias) on a 2 × 7 × 6 input
    type Case<'a> = ([usize; 2], &'a [usize], &'a [usize], &'a [usize], bool);
    let cases: &[Case] = &[
        ([3, 3], &[1], &[0], &[1], true),
        ([3, 2], &[2, 1], &[1, 0], &[1], true),
        ([2, 2], &[1], &[1], &[2, 1], false),
        ([1, 1], &[3], &[0], &[1], true),
        ([3, 3], &[2], &[2], &[2], false),
    ];
    for (k, s, p, d, b) in cases {
        let conv = Conv::conv2d(2, 3, *k)
            .with_stride(s)
            .with_padding(p)
            .with_dilation(d)
            .with_bias(*b);
        let probe = Sequential::new().push(conv).push(Flatten::default());
        let flat = probe.build(&[2, 7, 6]).unwrap().output_dim();
        let net = head(Sequential::new().push(conv).push(Activation::Gelu), flat)
            .build(&[2, 7, 6])
            .unwrap();
        check(&net, &format!("conv2d {k:?} s{s:?} p{p:?} d{d:?} bias {b}"));
    }
    for (k, s, p, d, b) in [(3, 1, 1, 1, true), (4, 2, 0, 1, false), (3, 1, 2, 2, true)] {
        let conv = Conv::conv1d(2, 3, k)
            .with_stride(&[s])
            .with_padding(&[p])
            .with_dilation(&[d])
            .with_bias(b);
        let probe = Sequential::new().push(conv).push(Flatten::default());
        let flat = probe.build(&[2, 9]).unwrap().output_dim();
        let net = head(Sequential::new().push(conv).push(Activation::Silu), flat)
            .build(&[2, 9])
            .unwrap();
        check(&net, &format!("conv1d k{k} s{s} p{p} d{d} bias {b}"));
    }
}

#[test]
fn pools_flatten_dropout_and_activations() {
    let conv = || Conv::conv2d(1, 2, [2, 2]).with_padding(&[1]);
    // a conv first so that the pools sit between parameterised layers
    let pools: Vec<(&str, fisherlab_autodiff::layers::Layer)> = vec![
        ("max 2x2", MaxPool::pool2d([2, 2]).into()),
        (
            "max 3x3 s2 p1 d1",
            MaxPool::pool2d([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1])
                .into(),
        ),
        (
            "max 2x2 s1 d2",
            MaxPool::pool2d([2, 2])
                .with_stride([1, 1])
                .with_dilation([2, 2])
                .into(),
        ),
        ("avg 2x2", AvgPool::pool2d([2, 2]).into()),
        (
            "avg 3x2 s1 p1",
            AvgPool::pool2d([3, 2])
                .with_stride([1, 1])
                .with_padding([1, 1])
                .into(),
        ),
        ("adaptive 2x3", AdaptiveAvgPool::pool2d([2, 3]).into()),
        ("adaptive 1x1", AdaptiveAvgPool::pool2d([1, 1]).into()),
        ("dropout", Dropout { p: 0.3 }.into()),
    ];
    for (what, pool) in pools {
        let body = Sequential::new()
            .push(conv())
            .push(Activation::Relu)
            .push(pool);
        let flat = body
            .clone()
            .push(Flatten::default())
            .build(&[1, 5, 6])
            .unwrap()
            .output_dim();
        check(&head(body, flat).build(&[1, 5, 6]).unwrap(), what);
    }
    for (what, pool) in [
        (
            "max1d 3 s2 p1",
            fisherlab_autodiff::layers::Layer::from(
                MaxPool::pool1d(3).with_stride([1, 2]).with_padding([0, 1]),
            ),
        ),
        ("avg1d 2", AvgPool::pool1d(2).into()),
        ("adaptive1d 4", AdaptiveAvgPool::pool1d(4).into()),
    ] {
        let body = Sequential::new()
            .push(Conv::conv1d(1, 2, 3))
            .push(Activation::LeakyRelu(0.2))
            .push(pool);
        let flat = body
            .clone()
            .push(Flatten::default())
            .build(&[1, 11])
            .unwrap()
            .output_dim();
        check(&head(body, flat).build(&[1, 11]).unwrap(), what);
    }
    for act in [
        "identity",
        "tanh",
        "relu",
        "sigmoid",
        "softplus",
        "gelu",
        "silu",
        "leaky_relu",
    ] {
        let a = Activation::from_name(act).unwrap();
        let net = Sequential::new()
            .push(Linear::new(4, 5, true))
            .push(a)
            .push(Linear::new(5, 3, false))
            .push(a)
            .push(Linear::new(3, 2, true))
            .build(&[4])
            .unwrap();
        check(&net, act);
    }
}

/// PyTorch's Conv2d written as its definition: out[o, i, j] = b[o] +
/// Σ_{c, ki, kj} W[o, c, ki, kj] · x[c, i·s − p + ki·d, j·s − p + kj·d] (zero outside).
#[allow(clippy::too_many_arguments)]
fn conv_by_definition(
    x: &[f64],
    (c, h, w): (usize, usize, usize),
    wt: &[f64],
    b: Option<&[f64]>,
    o: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
) -> Vec<f64> {
    let ho = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
    let wo = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
    let mut out = vec![0.0; o * ho * wo];
    for oo in 0..o {
        for i in 0..ho {
            for j in 0..wo {
                let mut acc = b.map_or(0.0, |b| b[oo]);
                for cc in 0..c {
                    for ki in 0..k[0] {
                        for kj in 0..k[1] {
                            let ii = (i * s[0] + ki * d[0]) as isize - p[0] as isize;
                            let jj = (j * s[1] + kj * d[1]) as isize - p[1] as isize;
                            if ii < 0 || jj < 0 || ii as usize >= h || jj as usize >= w {
                                continue;
                            }
                            let wi = ((oo * c + cc) * k[0] + ki) * k[1] + kj;
                            acc += wt[wi] * x[(cc * h + ii as usize) * w + jj as usize];
                        }
                    }
                }
                out[(oo * ho + i) * wo + j] = acc;
            }
        }
    }
    out
}

#[test]
fn forward_passes_follow_pytorchs_definitions() {
    let (k, s, p, d) = ([3, 2], [2, 1], [1, 2], [1, 2]);
    let conv = Conv::conv2d(2, 3, k)
        .with_stride(&s)
        .with_padding(&p)
        .with_dilation(&d);
    let net = Sequential::new()
        .push(conv)
        .push(Flatten::default())
        .build(&[2, 6, 5])
        .unwrap();
    let th = theta(&net, 4);
    let x = inputs(2, 60, 1);
    let y = forward(&net, &th, x.as_ref()).outputs;
    for n in 0..2 {
        let xi: Vec<f64> = (0..60).map(|j| x[(n, j)]).collect();
        let want = conv_by_definition(&xi, (2, 6, 5), &th[..36], Some(&th[36..]), 3, k, s, p, d);
        assert_eq!(want.len(), y.ncols());
        for (j, w) in want.iter().enumerate() {
            assert!((y[(n, j)] - w).abs() < 1e-14);
        }
    }
    // pools of a hand-made 1 × 4 × 4 image, rows [0 7 14 5] [12 3 10 1] [8 15 6 13] [4 11 2 9]
    let img: Vec<f64> = (0..16).map(|v| ((v * 7) % 16) as f64).collect();
    let x = Mat::from_fn(1, 16, |_, j| img[j]);
    let identity = Conv::conv2d(1, 1, [1, 1]).with_bias(false);
    for (pool, want) in [
        (
            fisherlab_autodiff::layers::Layer::from(MaxPool::pool2d([2, 2])),
            // windows {0 7 12 3} {14 5 10 1} {8 15 4 11} {6 13 2 9}
            vec![12.0, 14.0, 15.0, 13.0],
        ),
        (AvgPool::pool2d([2, 2]).into(), vec![5.5, 7.5, 9.5, 7.5]),
        // adaptive 1 × 3: all rows, columns [0,2) [1,3) [2,4) (PyTorch's floor/ceil rule);
        // column sums 24 36 32 28
        (AdaptiveAvgPool::pool2d([1, 3]).into(), vec![7.5, 8.5, 7.5]),
    ] {
        let net = Sequential::new()
            .push(identity)
            .push(pool)
            .push(Flatten::default())
            .build(&[1, 4, 4])
            .unwrap();
        let y = forward(&net, &[1.0], x.as_ref()).outputs;
        let got: Vec<f64> = (0..y.ncols()).map(|j| y[(0, j)]).collect();
        assert_eq!(got, want);
    }
}

#[test]
fn pytorch_print_forms_parse_and_unsupported_modules_are_refused_by_line() {
    let text = "Sequential(
  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Sequential(
    (0): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=False)
    (1): AdaptiveAvgPool2d(output_size=(2, 2))
  )
  (4): Dropout(p=0.5, inplace=False)
  (5): Flatten(start_dim=1, end_dim=-1)
  (6): Linear(in_features=16, out_features=5, bias=True)
)
";
    let net = parse_model(text).unwrap().build(&[1, 8, 8]).unwrap();
    let names: Vec<String> = net.param_tensors().into_iter().map(|t| t.0).collect();
    assert_eq!(
        names,
        ["0.weight", "0.bias", "3.0.weight", "6.weight", "6.bias"]
    );
    assert_eq!(net.param_tensors()[2].1, vec![4, 4, 3, 3]);
    assert_eq!(net.num_params(), 36 + 4 + 144 + 80 + 5);
    // every refusal names its line and what is supported
    let refused = [
        ("  (1): LSTM(4, 8)", 3, "not supported"),
        ("  (1): ReLU(inplace=True, extra=1)", 3, "extra"),
        (
            "  (1): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=True)",
            3,
            "ceil_mode=False",
        ),
        (
            "  (1): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), groups=2)",
            3,
            "groups=1",
        ),
        (
            "  (1): Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding_mode=reflect)",
            3,
            "zeros",
        ),
        ("  (1): GELU(approximate='tanh')", 3, "'none'"),
        ("  (1): Softplus(beta=2.0, threshold=20.0)", 3, "beta=1.0"),
    ];
    for (line, at, says) in refused {
        let text = format!(
            "Sequential(\n  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))\n{line}\n)\n"
        );
        let e = parse_model(&text).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::ModelText { line, .. } if line == at),
            "{msg}"
        );
        assert!(msg.contains(says), "{msg}");
    }
    assert!(parse_model("Net(\n  (conv): Conv2d(1, 4, kernel_size=(3, 3))\n)").is_err());
    assert!(parse_model("Sequential(\n  (0): ReLU()\n").is_err()); // not closed
    // a shape that does not chain: refused naming the module
    let e = parse_model("Sequential(\n  (0): Conv2d(1, 4, kernel_size=(3, 3))\n  (1): Linear(in_features=10, out_features=2, bias=True)\n)")
        .unwrap()
        .build(&[1, 8, 8])
        .unwrap_err();
    assert!(
        e.to_string().contains("(1) Linear") && e.to_string().contains("Flatten"),
        "{e}"
    );
    let e = parse_model("Sequential(\n  (0): Conv2d(3, 4, kernel_size=(3, 3))\n)")
        .unwrap()
        .build(&[1, 8, 8])
        .unwrap_err();
    assert!(e.to_string().contains("3 input channels"), "{e}");
    let e =
        parse_model("Sequential(\n  (0): Conv2d(1, 4, kernel_size=(9, 9))\n  (1): Flatten()\n)")
            .unwrap()
            .build(&[1, 8, 8])
            .unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
}

#[test]
fn the_mlp_shorthand_is_the_sequential_of_linear_layers() {
    let mlp = fisherlab_autodiff::network::Mlp::parse("4,3,2", "tanh")
        .unwrap()
        .network();
    let seq = Sequential::new()
        .push(Linear::new(4, 3, true))
        .push(Activation::Tanh)
        .push(Linear::new(3, 2, true))
        .build(&[4])
        .unwrap();
    assert_eq!(mlp.param_names(), seq.param_names());
    let th = theta(&mlp, 0);
    let x = inputs(4, 4, 0);
    let a = forward(&mlp, &th, x.as_ref()).outputs;
    let b = forward(&seq, &th, x.as_ref()).outputs;
    assert!((a - b).norm_max() == 0.0);
}

#[test]
fn linear_layers_shared_over_positions_and_the_mean_over_an_axis() {
    // tokens (T = 4, d = 3): Linear at every position, GELU, Linear without bias, mean over
    // the positions, Linear; and two position axes (2 × 3 × 4) ending in Flatten
    let net = Sequential::new()
        .push(Linear::new(3, 5, true))
        .push(Activation::Gelu)
        .push(Linear::new(5, 4, false))
        .push(MeanPool { dim: 1 })
        .push(Linear::new(4, 2, true))
        .build(&[4, 3])
        .unwrap();
    assert_eq!(net.taps()[0].locations(), 4);
    check(&net, "tokens");
    let net = Sequential::new()
        .push(Linear::new(4, 3, true))
        .push(Activation::Tanh)
        .push(MeanPool { dim: -2 })
        .push(Flatten::default())
        .push(Linear::new(6, 2, true))
        .build(&[2, 3, 4])
        .unwrap();
    assert_eq!(net.taps()[0].locations(), 6);
    check(&net, "two position axes");
    // by definition: y[t] = W x[t] + b at every position, then the mean over t
    let net = Sequential::new()
        .push(Linear::new(2, 1, true))
        .push(MeanPool { dim: 1 })
        .build(&[3, 2])
        .unwrap();
    let x = Mat::from_fn(1, 6, |_, j| j as f64); // tokens [0 1] [2 3] [4 5]
    let y = forward(&net, &[1.0, -2.0, 0.5], x.as_ref()).outputs;
    // per token 0 − 2 + 0.5, 2 − 6 + 0.5, 4 − 10 + 0.5: mean −3.5
    assert!((y[(0, 0)] + 3.5).abs() < 1e-15);
    let text = "Sequential(\n  (0): Linear(in_features=2, out_features=1, bias=True)\n  (1): MeanPool(dim=1)\n)\n";
    let parsed = parse_model(text).unwrap().build(&[3, 2]).unwrap();
    assert_eq!(parsed.param_names(), net.param_names());
    assert!(MeanPool { dim: 1 }.eq(&MeanPool { dim: 1 }));
    let e = Sequential::new()
        .push(Linear::new(3, 2, true))
        .push(MeanPool { dim: 2 })
        .build(&[3])
        .unwrap_err();
    assert!(e.to_string().contains("dim=2"), "{e}");
}

/// Running statistics that are not PyTorch's defaults, for every BatchNorm of `net`.
fn set_stats(net: &mut Network) {
    for (name, values) in net.buffers() {
        let v: Vec<f64> = (0..values.len())
            .map(|c| {
                if name.ends_with("running_var") {
                    0.4 + 0.3 * c as f64
                } else {
                    0.2 * c as f64 - 0.3
                }
            })
            .collect();
        net.set_buffer(&name, &v).unwrap();
    }
}

#[test]
fn layer_norm_in_every_affine_setting() {
    // over the last axis of tokens (T = 3, d = 4), and over two trailing axes (2 × 3) of each
    // of 2 positions; scale and shift, scale only, neither
    for (affine, bias) in [(true, true), (true, false), (false, false)] {
        let net = Sequential::new()
            .push(Linear::new(4, 4, true))
            .push(LayerNorm::new(&[4]).with_affine(affine, bias))
            .push(Activation::Gelu)
            .push(MeanPool { dim: 1 })
            .push(Linear::new(4, 2, true))
            .build(&[3, 4])
            .unwrap();
        assert_eq!(net.taps().len(), 2 + usize::from(affine));
        check(&net, &format!("layernorm affine {affine} bias {bias}"));
        let net = Sequential::new()
            .push(
                LayerNorm::new(&[2, 3])
                    .with_affine(affine, bias)
                    .with_eps(0.1),
            )
            .push(Flatten::default())
            .push(Linear::new(12, 2, true))
            .build(&[2, 2, 3])
            .unwrap();
        check(
            &net,
            &format!("layernorm (2, 3) affine {affine} bias {bias}"),
        );
    }
    // by definition, one position of [1, 2, 3, 6]: mean 3, biased variance 3.5
    let net = Sequential::new()
        .push(LayerNorm::new(&[4]).with_eps(0.5))
        .build(&[4])
        .unwrap();
    let gamma_beta = [1.0, 2.0, -1.0, 0.5, 0.0, 0.1, 0.2, 0.3];
    let y = forward(
        &net,
        &gamma_beta,
        Mat::from_fn(1, 4, |_, j| [1.0, 2.0, 3.0, 6.0][j]).as_ref(),
    )
    .outputs;
    for j in 0..4 {
        let xhat = ([1.0, 2.0, 3.0, 6.0][j] - 3.0) / 4.0f64.sqrt();
        let want = gamma_beta[j] * xhat + gamma_beta[4 + j];
        assert!((y[(0, j)] - want).abs() < 1e-15, "{j}");
    }
    assert_eq!(net.param_tensors()[1].0, "0.bias");
    let e = Sequential::new()
        .push(LayerNorm::new(&[5]))
        .build(&[3, 4])
        .unwrap_err();
    assert!(e.to_string().contains("trailing axes"), "{e}");
}

#[test]
fn batch_norm_in_evaluation_mode() {
    // BatchNorm2d after a convolution, BatchNorm1d on (C, L) and on vectors; with and without
    // the affine parameters, with running statistics that are not the defaults
    for affine in [true, false] {
        let mut net = Sequential::new()
            .push(Conv::conv2d(1, 3, [2, 2]))
            .push(BatchNorm::norm2d(3).with_affine(affine))
            .push(Activation::Tanh)
            .push(Flatten::default())
            .push(Linear::new(3 * 4 * 3, 2, true))
            .build(&[1, 5, 4])
            .unwrap();
        set_stats(&mut net);
        check(&net, &format!("batchnorm2d affine {affine}"));
        let mut net = Sequential::new()
            .push(Conv::conv1d(2, 3, 2))
            .push(BatchNorm::norm1d(3).with_affine(affine).with_eps(0.01))
            .push(Flatten::default())
            .push(Linear::new(3 * 4, 4, true))
            .push(BatchNorm::norm1d(4).with_affine(affine))
            .push(Activation::Softplus)
            .push(Linear::new(4, 2, true))
            .build(&[2, 5])
            .unwrap();
        set_stats(&mut net);
        check(&net, &format!("batchnorm1d affine {affine}"));
    }
    // an affine BatchNorm without shift (PyTorch's bias=False): the scale only
    let mut net = Sequential::new()
        .push(Conv::conv2d(1, 2, [2, 2]))
        .push(BatchNorm::norm2d(2).with_bias(false))
        .push(Activation::Gelu)
        .push(Flatten::default())
        .push(Linear::new(2 * 3 * 2, 2, true))
        .build(&[1, 4, 3])
        .unwrap();
    set_stats(&mut net);
    assert_eq!(
        net.param_tensors()[2],
        ("1.weight".to_string(), vec![2], 10)
    );
    assert_eq!(net.param_tensors()[3].0, "4.weight");
    check(&net, "batchnorm2d without shift");
    // by definition: γ (x − m) / √(v + ε) + β per channel, at every position
    let mut net = Sequential::new()
        .push(BatchNorm::norm1d(2).with_eps(0.0))
        .push(Flatten::default())
        .build(&[2, 3])
        .unwrap();
    net.set_buffer("0.running_mean", &[1.0, -2.0]).unwrap();
    net.set_buffer("0.running_var", &[4.0, 0.25]).unwrap();
    let x = Mat::from_fn(1, 6, |_, j| j as f64); // channel 0: 0 1 2, channel 1: 3 4 5
    let y = forward(&net, &[3.0, -1.0, 0.5, 0.25], x.as_ref()).outputs;
    for j in 0..6 {
        let (c, xv) = (j / 3, j as f64);
        let want = if c == 0 {
            3.0 * (xv - 1.0) / 2.0 + 0.5
        } else {
            -(xv + 2.0) / 0.5 + 0.25
        };
        assert!(
            (y[(0, j)] - want).abs() < 1e-14,
            "{j}: {} vs {want}",
            y[(0, j)]
        );
    }
    assert_eq!(
        net.buffers()
            .iter()
            .map(|b| b.0.as_str())
            .collect::<Vec<_>>(),
        ["0.running_mean", "0.running_var"]
    );
    assert_eq!(net.ignored_tensors(), ["0.num_batches_tracked"]);
    // bad buffers are refused with their rule
    for (name, v, says) in [
        ("0.running_var", vec![1.0, -1.0], "variance"),
        ("0.running_mean", vec![1.0], "2 channels"),
        ("0.running_mean", vec![f64::NAN, 0.0], "NaN"),
        ("1.running_mean", vec![0.0, 0.0], "not a buffer"),
    ] {
        let e = net.set_buffer(name, &v).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    let e = Sequential::new()
        .push(BatchNorm::norm2d(3))
        .build(&[2, 4, 4])
        .unwrap_err();
    assert!(e.to_string().contains("C = 3"), "{e}");
}

#[test]
fn residual_blocks_nest_and_name_their_parameters_as_pytorch() {
    // a block holding a convolution, a BatchNorm and a further block with a LayerNorm-free
    // MLP-like body; then a pre-norm block on tokens
    let inner = Residual::new(
        Sequential::new()
            .push(Activation::Relu)
            .push(Conv::conv2d(2, 2, [3, 3]).with_padding(&[1])),
    );
    let outer = Residual::new(
        Sequential::new()
            .push(Conv::conv2d(2, 2, [3, 3]).with_padding(&[1]))
            .push(BatchNorm::norm2d(2))
            .push(inner),
    );
    let mut net = Sequential::new()
        .push(Conv::conv2d(1, 2, [2, 2]))
        .push(outer)
        .push(Activation::Tanh)
        .push(Flatten::default())
        .push(Linear::new(2 * 3 * 3, 2, true))
        .build(&[1, 4, 4])
        .unwrap();
    set_stats(&mut net);
    let names: Vec<String> = net.param_tensors().into_iter().map(|t| t.0).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.body.0.weight",
            "1.body.0.bias",
            "1.body.1.weight",
            "1.body.1.bias",
            "1.body.2.body.1.weight",
            "1.body.2.body.1.bias",
            "4.weight",
            "4.bias"
        ]
    );
    assert_eq!(net.buffers()[0].0, "1.body.1.running_mean");
    check(&net, "residual two deep");
    let block = || {
        Residual::new(
            Sequential::new()
                .push(LayerNorm::new(&[4]))
                .push(Linear::new(4, 6, true))
                .push(Activation::Gelu)
                .push(Linear::new(6, 4, true)),
        )
    };
    let net = Sequential::new()
        .push(Linear::new(3, 4, true))
        .push(block())
        .push(block())
        .push(MeanPool { dim: 1 })
        .push(Linear::new(4, 2, true))
        .build(&[5, 3])
        .unwrap();
    assert_eq!(
        net.to_string(),
        "Linear-Residual(LayerNorm-Linear-GELU-Linear)-Residual(LayerNorm-Linear-GELU-Linear)-MeanPool-Linear"
    );
    check(&net, "pre-norm blocks on tokens");
    // a residual block at the very start, before any parameter: its gradient still flows
    let net = Sequential::new()
        .push(Residual::new(Sequential::new().push(Activation::Tanh)))
        .push(Linear::new(3, 2, true))
        .build(&[3])
        .unwrap();
    check(&net, "parameter-free block first");
    // by definition: x + W x for a bias-free linear body
    let net = Sequential::new()
        .push(Residual::new(
            Sequential::new().push(Linear::new(2, 2, false)),
        ))
        .build(&[2])
        .unwrap();
    let y = forward(
        &net,
        &[1.0, 2.0, 3.0, 4.0],
        Mat::from_fn(1, 2, |_, j| [1.0, -1.0][j]).as_ref(),
    )
    .outputs;
    assert_eq!((y[(0, 0)], y[(0, 1)]), (1.0 - 1.0, -1.0 - 1.0));
    // a body that changes the shape is refused naming the block
    let e = Sequential::new()
        .push(Residual::new(
            Sequential::new().push(Linear::new(3, 2, true)),
        ))
        .build(&[3])
        .unwrap_err();
    assert!(
        e.to_string().contains("(0) Residual") && e.to_string().contains("same shape"),
        "{e}"
    );
}

#[test]
fn normalisation_and_residual_print_forms() {
    let text = "Sequential(
  (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
  (2): Residual(
    (body): Sequential(
      (0): Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (1): BatchNorm2d(2, eps=0.001, momentum=None, affine=False, track_running_stats=True)
      (2): Residual(
        (body): Sequential(
          (0): ReLU()
        )
      )
    )
  )
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): LayerNorm((32,), eps=1e-05, elementwise_affine=True)
  (5): LayerNorm((32,), eps=1e-05, elementwise_affine=True, bias=False)
  (6): LayerNorm((32,), eps=1e-05, elementwise_affine=False)
  (7): BatchNorm1d(32, eps=1e-05, momentum=0.1, affine=True, bias=False, track_running_stats=True)
  (8): Linear(in_features=32, out_features=3, bias=True)
)
";
    let net = parse_model(text).unwrap().build(&[1, 4, 4]).unwrap();
    let names: Vec<String> = net.param_tensors().into_iter().map(|t| t.0).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "2.body.0.weight",
            "4.weight",
            "4.bias",
            "5.weight",
            "7.weight",
            "8.weight",
            "8.bias"
        ]
    );
    let buffers: Vec<String> = net.buffers().into_iter().map(|b| b.0).collect();
    assert_eq!(
        buffers,
        [
            "1.running_mean",
            "1.running_var",
            "2.body.1.running_mean",
            "2.body.1.running_var",
            "7.running_mean",
            "7.running_var"
        ]
    );
    let refused = [
        (
            "  (1): BatchNorm2d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=False)",
            "track_running_stats=False",
        ),
        (
            "  (1): LayerNorm((8,), eps=1e-05, elementwise_affine=False, bias=True)",
            "bias=True needs",
        ),
        (
            "  (1): Residual(
    (0): ReLU()
  )",
            "(body): Sequential(",
        ),
        (
            "  (1): Residual(
  )",
            "has none",
        ),
        (
            "  (1): GroupNorm(2, 4, eps=1e-05, affine=True)",
            "not supported",
        ),
    ];
    for (line, says) in refused {
        let text = format!(
            "Sequential(\n  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))\n{line}\n)\n"
        );
        let e = parse_model(&text).unwrap_err();
        assert!(matches!(e, Error::ModelText { .. }), "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
}

//! The patched CPU backend (vendor/burn-flex, see its DTUNET_PATCH.md): the vectorised f32
//! GELU against PyTorch's exact GELU (tests/fixtures/backend/gen_gelu.py), the vectorised f32
//! `exp` and softmax against their f64 definitions, the fused
//! training-mode batch norm against PyTorch's (gen_batch_norm.py), the chunk-parallel
//! element-wise sweeps against the same arithmetic done here element by element, on 1 and
//! on 2 threads, the thread-split matrix products against their definition, and zeroed
//! tensors of every element size.

use std::path::PathBuf;

use burn::tensor::activation::gelu;
use burn::tensor::module::batch_norm_train;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use safetensors::SafeTensors;

/// Rows × columns of the large operands: 327,680 elements, above the backend's parallel
/// threshold of 262,144, with a row length that does not divide its 65,536-element chunks.
const ROWS: usize = 640;
const COLUMNS: usize = 512;

/// Tensor `name` of `tests/fixtures/backend/<file>` as f64 values.
fn fixture(file: &str, name: &str) -> Vec<f64> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/backend")
        .join(file);
    let bytes = std::fs::read(&path).expect("backend fixture");
    let tensors = SafeTensors::deserialize(&bytes).expect("safetensors");
    let view = tensors.tensor(name).expect("tensor present");
    match view.dtype() {
        safetensors::Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
            .collect(),
        safetensors::Dtype::F64 => view
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect(),
        other => panic!("unexpected dtype {other:?}"),
    }
}

fn values(tensor: Tensor<2>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().expect("f32 data")
}

fn on_threads<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(work)
}

#[test]
fn gelu_and_its_gradient_match_pytorch_exact_gelu() {
    let x: Vec<f32> = fixture("gelu.safetensors", "x")
        .iter()
        .map(|&v| v as f32)
        .collect();
    let expected = fixture("gelu.safetensors", "gelu");
    let expected_grad = fixture("gelu.safetensors", "gelu_grad");
    let n = x.len();
    let device = Device::flex().autodiff();
    let input = Tensor::<1>::from_data(TensorData::new(x.clone(), [n]), &device).require_grad();
    let output = gelu(input.clone());
    let grads = output.clone().sum().backward();
    let got: Vec<f32> = output.into_data().try_to_vec().expect("f32");
    let got_grad: Vec<f32> = input
        .grad(&grads)
        .expect("gradient")
        .into_data()
        .try_to_vec()
        .expect("f32");
    let mut worst = (0.0f64, 0.0f64);
    for i in 0..n {
        let tolerance = 3e-7 * f64::from(x[i]).abs().max(1.0);
        let error = (f64::from(got[i]) - expected[i]).abs();
        let grad_error = (f64::from(got_grad[i]) - expected_grad[i]).abs();
        assert!(
            error <= tolerance,
            "gelu({}) = {} expected {}",
            x[i],
            got[i],
            expected[i]
        );
        assert!(
            grad_error <= tolerance,
            "gelu'({}) = {} expected {}",
            x[i],
            got_grad[i],
            expected_grad[i]
        );
        worst = (worst.0.max(error), worst.1.max(grad_error));
    }
    println!(
        "worst |gelu - exact| {:.2e}, worst |gelu' - exact| {:.2e}",
        worst.0, worst.1
    );
    assert!(
        worst.0 > 0.0,
        "an f32 kernel cannot match float64 exactly everywhere"
    );
}

/// Element-wise results on `threads` threads: contiguous, broadcast, transposed and scalar
/// operands, in-place (unique) and allocating (shared) forms, and the GELU kernels.
fn elementwise_results(threads: usize) -> Vec<Vec<f32>> {
    on_threads(threads, || {
        let device = Device::flex();
        let n = ROWS * COLUMNS;
        let a_values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
        let b_values: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos() + 1.5).collect();
        let a = Tensor::<2>::from_data(TensorData::new(a_values, [ROWS, COLUMNS]), &device);
        let b = Tensor::<2>::from_data(TensorData::new(b_values, [ROWS, COLUMNS]), &device);
        let row = Tensor::<2>::from_data(
            TensorData::new(
                (0..COLUMNS).map(|j| j as f32 * 0.01).collect(),
                [1, COLUMNS],
            ),
            &device,
        );
        let column = Tensor::<2>::from_data(
            TensorData::new(
                (0..ROWS).map(|i| 1.0 + i as f32 * 1e-3).collect(),
                [ROWS, 1],
            ),
            &device,
        );
        let side = ROWS.min(COLUMNS);
        let square_a = a.clone().narrow(0, 0, side).narrow(1, 0, side);
        let square_b = b.clone().narrow(0, 0, side).narrow(1, 0, side);
        vec![
            values(a.clone() + b.clone()),
            values(a.clone() * b.clone()),
            values(a.clone() - b.clone()),
            values(a.clone() / b.clone()),
            values(a.clone() + row.clone()),
            values(a.clone() * column.clone()),
            values(row.clone() - a.clone()),
            values(square_a.clone().transpose() + square_b.clone()),
            values(square_a.transpose() * square_b),
            values(a.clone().mul_scalar(2.5).add_scalar(-0.25)),
            values(a.clone().exp()),
            values(gelu(a.clone())),
            values(gelu(a.clone().transpose())),
            values((a.clone() + b.clone()) * b.clone() + a.clone() * column),
        ]
    })
}

#[test]
fn parallel_elementwise_sweeps_equal_the_scalar_arithmetic() {
    let results = elementwise_results(2);
    let a: Vec<f32> = (0..ROWS * COLUMNS)
        .map(|i| (i as f32 * 0.37).sin())
        .collect();
    let b: Vec<f32> = (0..ROWS * COLUMNS)
        .map(|i| (i as f32 * 0.11).cos() + 1.5)
        .collect();
    let row = |k: usize| (k % COLUMNS) as f32 * 0.01;
    let column = |k: usize| 1.0 + (k / COLUMNS) as f32 * 1e-3;
    let expected: [Box<dyn Fn(usize) -> f32>; 7] = [
        Box::new(|k| a[k] + b[k]),
        Box::new(|k| a[k] * b[k]),
        Box::new(|k| a[k] - b[k]),
        Box::new(|k| a[k] / b[k]),
        Box::new(|k| a[k] + row(k)),
        Box::new(|k| a[k] * column(k)),
        Box::new(|k| row(k) - a[k]),
    ];
    for (case, (got, want)) in results.iter().zip(&expected).enumerate() {
        for (k, &value) in got.iter().enumerate() {
            assert_eq!(value, want(k), "case {case}, element {k}");
        }
    }
    let side = ROWS.min(COLUMNS);
    for (case, combine) in [(7, 0), (8, 1)] {
        for (k, &value) in results[case].iter().enumerate() {
            let (i, j) = (k / side, k % side);
            let (x, y) = (a[j * COLUMNS + i], b[i * COLUMNS + j]);
            let want = if combine == 0 { x + y } else { x * y };
            assert_eq!(value, want, "transposed case {case}, element {k}");
        }
    }
    for (k, &value) in results[9].iter().enumerate() {
        assert_eq!(value, a[k] * 2.5 + -0.25, "scalar ops, element {k}");
    }
    for (k, &value) in results[10].iter().enumerate() {
        let exact = f64::from(a[k]).exp();
        let relative = (f64::from(value) - exact).abs() / exact;
        assert!(relative <= EXP_RELATIVE_ERROR, "exp, element {k}");
    }
    for (k, &value) in results[13].iter().enumerate() {
        let want = (a[k] + b[k]) * b[k] + a[k] * column(k);
        assert_eq!(value, want, "chain, element {k}");
    }
}

/// Relative error bound of the vectorised f32 `exp` against f64 (≈ 2 ulp).
const EXP_RELATIVE_ERROR: f64 = 2.5e-7;

#[test]
fn vectorised_exp_matches_f64_and_keeps_libms_limits() {
    let device = Device::flex();
    let n = 400_001;
    let x: Vec<f32> = (0..n)
        .map(|k| -87.3 + (88.7 + 87.3) * k as f32 / (n - 1) as f32)
        .collect();
    let found = values(Tensor::<2>::from_data(TensorData::new(x.clone(), [1, n]), &device).exp());
    let mut worst = 0.0f64;
    for (&x, &y) in x.iter().zip(&found) {
        let exact = f64::from(x).exp();
        worst = worst.max((f64::from(y) - exact).abs() / exact);
    }
    assert!(
        worst <= EXP_RELATIVE_ERROR,
        "worst relative error {worst:e}"
    );
    assert!(
        worst > 0.0,
        "an f32 kernel cannot match float64 exactly everywhere"
    );

    let special = [
        0.0f32,
        -0.0,
        88.72,
        88.73,
        100.0,
        f32::INFINITY,
        -87.5,
        -95.5,
        -103.0,
        -104.0,
        -1e30,
        f32::NEG_INFINITY,
        f32::NAN,
    ];
    let found = values(
        Tensor::<2>::from_data(
            TensorData::new(special.to_vec(), [1, special.len()]),
            &device,
        )
        .exp(),
    );
    assert_eq!(&found[..2], &[1.0, 1.0], "exp(±0)");
    assert!(
        found[2].is_finite() && found[2] > 3.3e38,
        "exp(88.72) = {}",
        found[2]
    );
    assert!(
        found[3..6].iter().all(|&y| y == f32::INFINITY),
        "overflow: {found:?}"
    );
    for (&x, &y) in special[6..9].iter().zip(&found[6..9]) {
        let exact = f64::from(x).exp();
        assert!(
            (f64::from(y) - exact).abs() <= 1.5e-45 + 1e-6 * exact,
            "subnormal exp({x}) = {y:e}"
        );
    }
    assert!(
        found[9..12].iter().all(|&y| y == 0.0),
        "underflow: {found:?}"
    );
    assert!(found[12].is_nan(), "exp(NaN) = {}", found[12]);
}

#[test]
fn softmax_rows_match_their_f64_definition() {
    let device = Device::flex();
    for (row_len, spread) in [
        (1, 1.0f32),
        (7, 3.0),
        (8, 3.0),
        (9, 30.0),
        (203, 10.0),
        (1000, 80.0),
    ] {
        let rows = 70;
        let x: Vec<f32> = (0..rows * row_len)
            .map(|k| spread * ((k as f32) * 0.618).sin())
            .collect();
        let found = values(burn::tensor::activation::softmax(
            Tensor::<2>::from_data(TensorData::new(x.clone(), [rows, row_len]), &device),
            1,
        ));
        for (row, found) in x.chunks(row_len).zip(found.chunks(row_len)) {
            let max = row
                .iter()
                .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let total: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
            for (&v, &y) in row.iter().zip(found) {
                let want = (f64::from(v) - max).exp() / total;
                assert!(
                    (f64::from(y) - want).abs() <= 1e-6 * want + 1e-12,
                    "row length {row_len}: softmax {y:e}, definition {want:e}"
                );
            }
        }
    }
}

#[test]
fn elementwise_results_do_not_depend_on_the_thread_count() {
    assert_eq!(elementwise_results(1), elementwise_results(2));
}

/// Batch-norm epsilon of the fixture (PyTorch's default).
const BATCH_NORM_EPSILON: f64 = 1e-5;

/// The fused training-mode batch norm on `x: [N, C, ...]`: output, mean, variance, and the
/// gradients of `Σ output·upstream` for `x`, `gamma` and `beta`, all flattened.
fn batch_norm_results<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    upstream: Tensor<D>,
) -> [Vec<f32>; 6] {
    let (x, gamma, beta) = (x.require_grad(), gamma.require_grad(), beta.require_grad());
    let result = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), BATCH_NORM_EPSILON);
    let grads = (result.output.clone() * upstream).sum().backward();
    let flat = |t: Tensor<D>| t.into_data().try_to_vec::<f32>().expect("f32");
    let flat1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().expect("f32");
    [
        flat(result.output),
        flat1(result.mean),
        flat1(result.variance),
        flat(x.grad(&grads).expect("x gradient")),
        flat1(gamma.grad(&grads).expect("gamma gradient")),
        flat1(beta.grad(&grads).expect("beta gradient")),
    ]
}

fn fixture_tensor<const D: usize>(name: &str, shape: [usize; D], device: &Device) -> Tensor<D> {
    let values: Vec<f32> = fixture("batch_norm.safetensors", name)
        .iter()
        .map(|&v| v as f32)
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn check_batch_norm_case<const D: usize>(case: &str, shape: [usize; D]) {
    let device = Device::flex().autodiff();
    let channels = shape[1];
    let got = batch_norm_results(
        fixture_tensor(&format!("{case}.x"), shape, &device),
        fixture_tensor(&format!("{case}.gamma"), [channels], &device),
        fixture_tensor(&format!("{case}.beta"), [channels], &device),
        fixture_tensor(&format!("{case}.grad"), shape, &device),
    );
    // f32 arithmetic against float64 PyTorch: |Δ| ≤ tolerance · max(1, |expected|).
    let checks = [
        ("output", 5e-6),
        ("mean", 2e-6),
        ("variance", 2e-6),
        ("x_grad", 2e-5),
        ("gamma_grad", 2e-5),
        ("beta_grad", 2e-5),
    ];
    for ((name, tolerance), got) in checks.iter().zip(&got) {
        let expected = fixture("batch_norm.safetensors", &format!("{case}.{name}"));
        assert_eq!(got.len(), expected.len(), "{case}.{name} length");
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(&g, &e)| (f64::from(g) - e).abs() / e.abs().max(1.0))
            .fold(0.0f64, f64::max);
        println!("{case}.{name}: worst relative |Δ| {worst:.2e}");
        assert!(
            worst <= *tolerance,
            "{case}.{name}: worst relative error {worst:.2e} above {tolerance:.0e}"
        );
    }
}

#[test]
fn batch_norm_train_on_rows_matches_pytorch() {
    check_batch_norm_case("rows", [130, 40]);
}

#[test]
fn batch_norm_train_on_nchw_maps_matches_pytorch() {
    check_batch_norm_case("nchw", [3, 8, 5, 6]);
}

/// Batch norm of a `[1100, 256]` matrix (281,600 values, over the parallel threshold, in
/// tasks that do not divide the rows evenly) on `threads` threads.
fn large_batch_norm_results(threads: usize) -> [Vec<f32>; 6] {
    on_threads(threads, || {
        let device = Device::flex().autodiff();
        let (rows, channels) = (1100, 256);
        let x: Vec<f32> = (0..rows * channels)
            .map(|k| (k as f32 * 0.37).sin() * (1.0 + (k % channels) as f32 * 0.01) + 2.0)
            .collect();
        let upstream: Vec<f32> = (0..rows * channels)
            .map(|k| (k as f32 * 0.11).cos())
            .collect();
        let gamma: Vec<f32> = (0..channels).map(|c| 0.5 + c as f32 * 0.004).collect();
        let beta: Vec<f32> = (0..channels).map(|c| (c as f32 * 0.3).sin()).collect();
        batch_norm_results(
            Tensor::<2>::from_data(TensorData::new(x, [rows, channels]), &device),
            Tensor::from_data(TensorData::new(gamma, [channels]), &device),
            Tensor::from_data(TensorData::new(beta, [channels]), &device),
            Tensor::from_data(TensorData::new(upstream, [rows, channels]), &device),
        )
    })
}

#[test]
fn large_batch_norm_does_not_depend_on_the_thread_count_and_normalises() {
    let two = large_batch_norm_results(2);
    assert_eq!(large_batch_norm_results(1), two);
    let [output, _, _, x_grad, _, _] = &two;
    let channels = 256;
    let gamma = |c: usize| 0.5 + c as f64 * 0.004;
    let beta = |c: usize| (c as f64 * 0.3).sin();
    for c in 0..channels {
        let column: Vec<f64> = output
            .iter()
            .skip(c)
            .step_by(channels)
            .map(|&v| f64::from(v))
            .collect();
        let n = column.len() as f64;
        let mean = column.iter().sum::<f64>() / n;
        let std = (column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!(
            (mean - beta(c)).abs() < 1e-5,
            "channel {c}: output mean {mean}"
        );
        assert!(
            (std - gamma(c)).abs() < 1e-4,
            "channel {c}: output std {std}"
        );
        // The input gradient of a batch norm is orthogonal to a constant shift of a channel.
        let shift: f64 = x_grad
            .iter()
            .skip(c)
            .step_by(channels)
            .map(|&v| f64::from(v))
            .sum();
        assert!(shift.abs() < 1e-3, "channel {c}: Σ x_grad = {shift}");
    }
}

/// `lhs · rhs` by its definition in f64, with the bound `Σ_k |lhs_ik · rhs_kj|` that scales
/// the f32 rounding of each output element; `lhs` is `[m, k]`, `rhs` `[k, n]`, row-major.
fn matmul_by_definition(lhs: &[f32], rhs: &[f32], [m, k, n]: [usize; 3]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(m * n);
    for i in 0..m {
        for j in 0..n {
            let terms = (0..k).map(|p| f64::from(lhs[i * k + p]) * f64::from(rhs[p * n + j]));
            out.push(terms.fold((0.0, 0.0), |(sum, size), t| (sum + t, size + t.abs())));
        }
    }
    out
}

fn pattern(len: usize, phase: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * 0.173 + phase).sin()).collect()
}

fn assert_matmul_matches_definition(found: Tensor<3>, lhs: &[f32], rhs: &[f32], dims: [usize; 3]) {
    let batch = found.dims()[0];
    let found = found.into_data().try_to_vec::<f32>().expect("f32 data");
    let [m, k, n] = dims;
    for b in 0..batch {
        let expected = matmul_by_definition(&lhs[b * m * k..], &rhs[b * k * n..], dims);
        for (index, (&value, (exact, size))) in found[b * m * n..(b + 1) * m * n]
            .iter()
            .zip(expected)
            .enumerate()
        {
            assert!(
                (f64::from(value) - exact).abs() <= 1e-6 * size + 1e-6,
                "{dims:?} batch {b} element {index}: {value} vs {exact}"
            );
        }
    }
}

/// Products large enough for the thread split (≥ 192³ multiply-adds): taller than wide (row
/// blocks), wider than tall (column blocks), a transposed left operand, and a batch of two
/// that is split per matrix; sizes that are not multiples of the 16-row block alignment.
#[test]
fn thread_split_matrix_products_equal_their_definition() {
    on_threads(2, || {
        let device = Device::flex();
        for (batch, [m, k, n]) in [
            (1, [301, 197, 250]),
            (1, [120, 300, 333]),
            (2, [250, 200, 150]),
        ] {
            let lhs = pattern(batch * m * k, 0.3);
            let rhs = pattern(batch * k * n, 1.7);
            let lhs_tensor =
                Tensor::<3>::from_data(TensorData::new(lhs.clone(), [batch, m, k]), &device);
            let rhs_tensor =
                Tensor::<3>::from_data(TensorData::new(rhs.clone(), [batch, k, n]), &device);
            let product = if batch == 1 {
                lhs_tensor
                    .squeeze_dim::<2>(0)
                    .matmul(rhs_tensor.squeeze_dim(0))
                    .unsqueeze()
            } else {
                lhs_tensor.matmul(rhs_tensor)
            };
            assert_matmul_matches_definition(product, &lhs, &rhs, [m, k, n]);
        }
        let [m, k, n] = [260, 190, 230];
        let lhs_transposed = pattern(k * m, 0.9);
        let lhs: Vec<f32> = (0..m * k)
            .map(|i| lhs_transposed[(i % k) * m + i / k])
            .collect();
        let rhs = pattern(k * n, 2.1);
        let product = Tensor::<2>::from_data(TensorData::new(lhs_transposed, [k, m]), &device)
            .transpose()
            .matmul(Tensor::from_data(
                TensorData::new(rhs.clone(), [k, n]),
                &device,
            ));
        assert_matmul_matches_definition(product.unsqueeze(), &lhs, &rhs, [m, k, n]);
    });
}

/// New float, integer and boolean tensors are zeroed and read back as their element type.
#[test]
fn zeroed_tensors_of_every_element_size_read_back() {
    let device = Device::flex();
    let floats = Tensor::<2>::zeros([37, 29], &device).into_data();
    assert_eq!(floats.try_to_vec::<f32>().expect("f32"), vec![0.0; 37 * 29]);
    let integers = Tensor::<2, Int>::zeros([5, 300], &device).into_data();
    assert_eq!(integers.num_elements(), 1500);
    assert!(integers.iter::<i64>().all(|v| v == 0));
    let flags: Tensor<1, Bool> = Tensor::<1>::zeros([70_000], &device).equal_elem(0.0);
    assert!(
        flags
            .into_data()
            .try_to_vec::<bool>()
            .expect("bool")
            .iter()
            .all(|&f| f)
    );
}

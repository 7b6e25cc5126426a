//! Branch-free `f32` GELU kernels that LLVM vectorises (dtunet patch).
//!
//! Upstream evaluates the exact GELU through scalar `libm::erff` / `expf` calls, one element at
//! a time; on a transformer training step that was ≈ 14 % of the CPU time. These kernels use the
//! same approximation PyTorch's vectorised CPU GELU uses for `erf` (Abramowitz & Stegun 7.1.26,
//! absolute error ≤ 1.5e-7) with a Cephes-style `exp` of a non-positive argument (relative error
//! ≤ 2 ulp), written without branches or calls so whole slices run in SIMD registers.

/// `exp(x)` for `x ≤ 0` (arguments below −87 return ≈ e^−87, which is below every use here).
#[inline(always)]
fn exp_non_positive(x: f32) -> f32 {
    const LOG2_E: f32 = core::f32::consts::LOG2_E;
    const LN2_HIGH: f32 = 0.693_359_4;
    const LN2_LOW: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 0.0);
    // round(x·log2 e) for x·log2 e ≤ 0: the truncating conversion of a negative number rounds
    // up, so subtracting ½ first gives the nearest integer (no `floor`, which is a libm call
    // without SSE4.1 and would stop vectorisation).
    let n_int = (x * LOG2_E - 0.5) as i32;
    let n = n_int as f32;
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let polynomial = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r
        + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let mantissa = polynomial * r * r + r + 1.0;
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    mantissa * scale
}

/// `erf(x)` (A&S 7.1.26, absolute error ≤ 1.5e-7).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let magnitude = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * magnitude);
    let polynomial = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74)
        * t
        + 0.254_829_6)
        * t;
    let value = 1.0 - polynomial * exp_non_positive(-magnitude * magnitude);
    value.copysign(x)
}

/// `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`.
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// `grad · (Φ(x) + x · φ(x))`, the derivative of [`gelu`] times the incoming gradient.
#[inline(always)]
pub(crate) fn gelu_backward(x: f32, grad: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let cdf = 0.5 * (1.0 + erf(x * core::f32::consts::FRAC_1_SQRT_2));
    let pdf = INV_SQRT_2PI * exp_non_positive(-0.5 * x * x);
    grad * (cdf + x * pdf)
}

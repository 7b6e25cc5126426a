//! SSIM and MS-SSIM of two image batches as differentiable tensor operations, exactly
//! pytorch-msssim 1.0.0's `ssim(x, y, data_range=1, size_average=False)` and
//! `ms_ssim(x, y, data_range=1, size_average=False)` (`tests/fixtures/losses/gen_losses.py`).
//!
//! Details that decide the numbers:
//! * the Gaussian window (11 taps, σ 1.5) is applied separably, first along the height, then
//!   along the width, without padding; a side shorter than the window is not smoothed at all
//!   (pytorch-msssim skips it with a warning);
//! * SSIM and the contrast-structure term `cs` are averaged over each channel's map, then
//!   over the channels;
//! * MS-SSIM takes `relu(cs)` at every scale but the last and `relu(ssim)` at the last,
//!   raises each to its weight and multiplies; between scales both images are average-pooled
//!   2×2 with a padding of `side % 2` on each end of each dimension (zeros counted).
//!
//! pytorch-msssim refuses images whose smaller side is at most 160 px; here such images use
//! fewer scales (see [`ms_ssim_scales`]) with the first weights renormalised.

use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{DType, Device, Tensor, TensorData};

/// Taps of the Gaussian window.
pub const WIN_SIZE: usize = 11;
/// Standard deviation of the Gaussian window, in pixels.
pub const WIN_SIGMA: f64 = 1.5;
/// The value range the constants `C1 = (K1·L)²`, `C2 = (K2·L)²` assume (`L`).
pub const DATA_RANGE: f64 = 1.0;
/// Stabiliser of the luminance term.
pub const K1: f64 = 0.01;
/// Stabiliser of the contrast-structure term.
pub const K2: f64 = 0.03;
/// MS-SSIM weights of the five scales, finest first (Wang et al. 2003). They sum to 1.0001
/// and are used as they are when all five scales fit.
pub const MS_SSIM_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

/// Per-sample MS-SSIM and how many scales the image size allowed.
#[derive(Debug, Clone)]
pub struct MsSsim {
    /// MS-SSIM of each sample, averaged over channels, `[B]`.
    pub value: Tensor<1>,
    /// Scales used, `1..=5` ([`ms_ssim_scales`] of the image size).
    pub n_scales: usize,
}

/// Per-sample SSIM, averaged over channels and positions.
///
/// # Shapes
/// `x`, `y`: `[B, C, H, W]` → `[B]`.
///
/// # Panics
/// If `x` and `y` differ in shape.
pub fn ssim(x: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    check_same_shape(&x, &y);
    let [batch, _, _, _] = x.dims();
    let window = gaussian_window(&x.device(), x.dtype());
    let (ssim_per_channel, _) = ssim_and_cs(x, y, &window); // [B, C]
    ssim_per_channel.mean_dim(1).reshape([batch])
}

/// Per-sample MS-SSIM over [`ms_ssim_scales`]`(H, W)` scales, averaged over channels.
///
/// # Shapes
/// `x`, `y`: `[B, C, H, W]` → `value` `[B]`.
///
/// # Panics
/// If `x` and `y` differ in shape.
pub fn ms_ssim(x: Tensor<4>, y: Tensor<4>) -> MsSsim {
    check_same_shape(&x, &y);
    let [batch, _, height, width] = x.dims();
    let n_scales = ms_ssim_scales(height, width);
    let weights = ms_ssim_weights(n_scales);
    let window = gaussian_window(&x.device(), x.dtype());
    let (mut x, mut y) = (x, y);
    let mut product: Option<Tensor<2>> = None;
    for (scale, &weight) in weights.iter().enumerate() {
        let (ssim_per_channel, cs) = ssim_and_cs(x.clone(), y.clone(), &window); // [B, C] each
        let last = scale + 1 == n_scales;
        let factor = positive_pow(if last { ssim_per_channel } else { cs }, weight);
        product = Some(match product {
            Some(product) => product * factor,
            None => factor,
        });
        if !last {
            x = downsample(x); // [B, C, ⌈H/2⌉, ⌈W/2⌉] for odd sides, H/2 for even
            y = downsample(y);
        }
    }
    let value = product
        .expect("at least one scale")
        .mean_dim(1)
        .reshape([batch]); // [B]
    MsSsim { value, n_scales }
}

/// How many MS-SSIM scales an `height`×`width` image allows: the largest `k ≤ 5` with
/// `min(height, width) > (WIN_SIZE − 1)·2^(k−1)`, so that the coarsest scale is at least one
/// window wide (5 from 161 px, 4 from 81, 3 from 41, 2 from 21), and 1 below that (plain SSIM
/// with the relu, smoothing skipped along sides shorter than the window).
pub fn ms_ssim_scales(height: usize, width: usize) -> usize {
    let smaller = height.min(width);
    let mut n_scales = 1;
    while n_scales < MS_SSIM_WEIGHTS.len() && smaller > (WIN_SIZE - 1) << n_scales {
        n_scales += 1;
    }
    n_scales
}

/// The weights of the first `n_scales` scales: [`MS_SSIM_WEIGHTS`] as they are for 5, else the
/// first `n_scales` divided by their sum.
///
/// # Panics
/// If `n_scales` is not in `1..=5`.
pub fn ms_ssim_weights(n_scales: usize) -> Vec<f64> {
    assert!(
        (1..=MS_SSIM_WEIGHTS.len()).contains(&n_scales),
        "MS-SSIM has 1 to 5 scales, not {n_scales}"
    );
    let weights = &MS_SSIM_WEIGHTS[..n_scales];
    if n_scales == MS_SSIM_WEIGHTS.len() {
        return weights.to_vec();
    }
    let total: f64 = weights.iter().sum();
    weights.iter().map(|weight| weight / total).collect()
}

fn check_same_shape(x: &Tensor<4>, y: &Tensor<4>) {
    assert_eq!(
        x.dims(),
        y.dims(),
        "SSIM needs two batches of the same shape [B, C, H, W]"
    );
}

/// The normalised 1-D Gaussian window, `[WIN_SIZE]`.
fn gaussian_window(device: &Device, dtype: DType) -> Tensor<1> {
    let center = (WIN_SIZE / 2) as f64;
    let taps: Vec<f64> = (0..WIN_SIZE)
        .map(|i| (-(i as f64 - center).powi(2) / (2.0 * WIN_SIGMA * WIN_SIGMA)).exp())
        .collect();
    let total: f64 = taps.iter().sum();
    let taps: Vec<f32> = taps.iter().map(|tap| (tap / total) as f32).collect();
    Tensor::from_data(TensorData::new(taps, [WIN_SIZE]), (device, dtype))
}

/// Separable valid-mode Gaussian blur of every channel; sides shorter than the window are
/// left unsmoothed.
///
/// # Shapes
/// `maps`: `[N, C, H, W]` → `[N, C, H', W']` with `H' = H − 10` if `H ≥ 11`, else `H` (same
/// for `W`).
fn gaussian_filter(maps: Tensor<4>, window: &Tensor<1>) -> Tensor<4> {
    let [n, channels, height, width] = maps.dims();
    let options = || ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let mut out = maps.reshape([n * channels, 1, height, width]); // [N·C, 1, H, W]
    if height >= WIN_SIZE {
        let kernel = window.clone().reshape([1, 1, WIN_SIZE, 1]);
        out = conv2d(out, kernel, None, options()); // [N·C, 1, H − 10, W]
    }
    if width >= WIN_SIZE {
        let kernel = window.clone().reshape([1, 1, 1, WIN_SIZE]);
        out = conv2d(out, kernel, None, options()); // [N·C, 1, H', W − 10]
    }
    let [_, _, out_height, out_width] = out.dims();
    out.reshape([n, channels, out_height, out_width])
}

/// SSIM and the contrast-structure term, each averaged over the map of every channel
/// (pytorch-msssim's `_ssim`).
///
/// # Shapes
/// `x`, `y`: `[B, C, H, W]` → (`ssim`, `cs`), each `[B, C]`.
fn ssim_and_cs(x: Tensor<4>, y: Tensor<4>, window: &Tensor<1>) -> (Tensor<2>, Tensor<2>) {
    let [batch, channels, _, _] = x.dims();
    let c1 = (K1 * DATA_RANGE).powi(2);
    let c2 = (K2 * DATA_RANGE).powi(2);
    let moments = Tensor::cat(
        vec![
            x.clone(),
            y.clone(),
            x.clone() * x.clone(),
            y.clone() * y.clone(),
            x * y,
        ],
        0,
    ); // [5B, C, H, W]
    let mut blurred = gaussian_filter(moments, window).split(batch, 0).into_iter(); // 5 × [B, C, H', W']
    let mut next = || blurred.next().expect("five blurred moments");
    let (mu1, mu2, xx, yy, xy) = (next(), next(), next(), next(), next());

    let mu1_sq = mu1.clone() * mu1.clone();
    let mu2_sq = mu2.clone() * mu2.clone();
    let mu1_mu2 = mu1 * mu2;
    let sigma1_sq = xx - mu1_sq.clone();
    let sigma2_sq = yy - mu2_sq.clone();
    let sigma12 = xy - mu1_mu2.clone();

    let cs_map = (sigma12.mul_scalar(2.0).add_scalar(c2)) / (sigma1_sq + sigma2_sq).add_scalar(c2);
    let luminance = mu1_mu2.mul_scalar(2.0).add_scalar(c1) / (mu1_sq + mu2_sq).add_scalar(c1);
    let ssim_map = luminance * cs_map.clone();
    (
        channel_mean(ssim_map, batch, channels),
        channel_mean(cs_map, batch, channels),
    )
}

/// # Shapes
/// `map`: `[B, C, H, W]` → `[B, C]`.
fn channel_mean(map: Tensor<4>, batch: usize, channels: usize) -> Tensor<2> {
    let [_, _, height, width] = map.dims();
    map.reshape([batch, channels, height * width])
        .mean_dim(2) // [B, C, 1]
        .reshape([batch, channels])
}

/// `relu(base)^exponent`, with zero gradient where `base ≤ 0` (not `0·∞`).
fn positive_pow(base: Tensor<2>, exponent: f64) -> Tensor<2> {
    let non_positive = base.clone().lower_equal_elem(0.0);
    base.mask_fill(non_positive.clone(), 1.0)
        .powf_scalar(exponent)
        .mask_fill(non_positive, 0.0)
}

/// 2×2 average pooling with `side % 2` zero padding on both ends of each dimension, zeros
/// counted (`F.avg_pool2d(x, 2, padding=[H % 2, W % 2])`).
///
/// # Shapes
/// `x`: `[B, C, H, W]` → `[B, C, ⌊H/2⌋ + H % 2, ⌊W/2⌋ + W % 2]`.
fn downsample(x: Tensor<4>) -> Tensor<4> {
    let [_, _, height, width] = x.dims();
    avg_pool2d(
        x,
        AvgPoolOptions::new([2, 2]).with_padding([height % 2, width % 2]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_count_follows_the_smaller_side() {
        assert_eq!(ms_ssim_scales(256, 256), 5);
        assert_eq!(ms_ssim_scales(161, 400), 5);
        assert_eq!(ms_ssim_scales(400, 160), 4);
        assert_eq!(ms_ssim_scales(81, 90), 4);
        assert_eq!(ms_ssim_scales(80, 90), 3);
        assert_eq!(ms_ssim_scales(45, 50), 3);
        assert_eq!(ms_ssim_scales(24, 40), 2);
        assert_eq!(ms_ssim_scales(32, 32), 2);
        assert_eq!(ms_ssim_scales(20, 64), 1);
        assert_eq!(ms_ssim_scales(7, 9), 1);
    }

    #[test]
    fn fewer_scales_renormalise_the_first_weights() {
        assert_eq!(ms_ssim_weights(5), MS_SSIM_WEIGHTS.to_vec());
        assert_eq!(ms_ssim_weights(1), vec![1.0]);
        let three = ms_ssim_weights(3);
        let total = 0.0448 + 0.2856 + 0.3001;
        assert!((three[0] - 0.0448 / total).abs() < 1e-15);
        assert!((three.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn identical_images_score_one_at_every_size() {
        let device = Device::flex();
        for [height, width] in [[7, 9], [24, 40], [45, 50], [33, 21]] {
            let x = Tensor::<4>::from_data(
                TensorData::new(
                    (0..2 * height * width)
                        .map(|i| (i as f32 * 0.37).sin())
                        .collect::<Vec<_>>(),
                    [1, 2, height, width],
                ),
                &device,
            );
            let same = ssim(x.clone(), x.clone()).into_scalar::<f32>();
            assert!((same - 1.0).abs() < 1e-5, "{height}x{width}: SSIM {same}");
            let multi = ms_ssim(x.clone(), x);
            assert_eq!(multi.n_scales, ms_ssim_scales(height, width));
            let multi = multi.value.into_scalar::<f32>();
            assert!(
                (multi - 1.0).abs() < 1e-5,
                "{height}x{width}: MS-SSIM {multi}"
            );
        }
    }
}

//! The strided (DDIM, η = 0) reverse chain: the partial diffusion of [`GaussianDiffusion::
//! reconstruct`] in `k` network evaluations instead of `t_λ + 1`.

use burn::tensor::Tensor;

use super::gaussian::GaussianDiffusion;
use super::guidance::Conditioning;
use super::noise_fn::NoiseSampler;
use super::timesteps::timestep_tensor;
use crate::error::{DtunetError, Result};
use crate::models::NoisePredictor;

/// The `k` timesteps of a strided chain from `t_lambda` down to 0: evenly spaced, rounded,
/// strictly decreasing, first `t_lambda`, last 0 (fewer when `t_lambda + 1 < k`).
pub fn strided_timesteps(t_lambda: usize, k: usize) -> Vec<usize> {
    if k <= 1 || t_lambda == 0 {
        return vec![t_lambda];
    }
    let mut steps: Vec<usize> = (0..k)
        .map(|i| ((t_lambda as f64) * (1.0 - i as f64 / (k - 1) as f64)).round() as usize)
        .collect();
    steps.dedup();
    steps
}

impl GaussianDiffusion {
    /// Partial diffusion with a strided deterministic reverse chain: `x_{t_λ} =
    /// q_sample(x_start, t_λ)` with noise drawn at `t_λ`, then for consecutive chain steps
    /// `t > s`: `x̂_0` from `ε̂(x_t, t)` (clipped), `x_s = √ᾱ_s·x̂_0 + √(1−ᾱ_s)·ε(x_t, x̂_0)`;
    /// the last `x̂_0` (at `t = 0`) is the reconstruction. `k` network evaluations. With
    /// `guidance`, `ε̂ −= √(1 − ᾱ_t) · s·∇ log p(y | x_t, t)` before `x̂_0` is formed
    /// (guided-diffusion's `condition_score`).
    ///
    /// # Shapes
    /// - `x_start`: `[B, C, H, W]` in `[-1, 1]`; `conditioning.labels`: `[B]` or `None`;
    ///   returns `[B, C, H, W]`
    ///
    /// # Errors
    /// `t_lambda` outside `0..T`, `k = 0`, or the noise sampler's errors.
    pub fn reconstruct_strided<M: NoisePredictor + ?Sized>(
        &self,
        model: &M,
        x_start: Tensor<4>,
        t_lambda: usize,
        k: usize,
        conditioning: &Conditioning,
        noise: &mut NoiseSampler,
    ) -> Result<Tensor<4>> {
        self.schedule().check_t_lambda(t_lambda)?;
        if k == 0 {
            return Err(DtunetError::InvalidParameter {
                name: "--steps",
                found: "0".into(),
                expected: "at least 1 reverse step".into(),
            });
        }
        let dims = x_start.dims();
        let batch = dims[0];
        let start = vec![t_lambda; batch];
        let eps = noise.sample(dims, &start)?;
        let mut x = self.q_sample(x_start, &start, eps).detach();
        let chain = strided_timesteps(t_lambda, k);
        let mut estimate = x.clone();
        for (index, &step) in chain.iter().enumerate() {
            let t = vec![step; batch];
            let eps_hat = model.predict_noise(
                x.clone(),
                timestep_tensor(&t, self.device()),
                conditioning.labels.clone(),
            );
            let eps_hat = match conditioning.guidance {
                Some(guidance) => {
                    eps_hat
                        - guidance.gradient(x.clone(), &t)
                            * self.extract(&self.sqrt_one_minus_alphas_cumprod, &t)
                }
                None => eps_hat,
            };
            let x0 = self
                .predict_xstart_from_eps(x.clone(), &t, eps_hat)
                .clamp(-1.0, 1.0);
            estimate = x0.clone().detach();
            if let Some(&next) = chain.get(index + 1) {
                let eps_implied = self.predict_eps_from_xstart(x, &t, x0.clone());
                let s = vec![next; batch];
                x = (x0 * self.extract(&self.sqrt_alphas_cumprod, &s)
                    + eps_implied * self.extract(&self.sqrt_one_minus_alphas_cumprod, &s))
                .detach();
            }
        }
        Ok(estimate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_chains_start_at_t_lambda_and_end_at_zero() {
        assert_eq!(strided_timesteps(250, 6), vec![250, 200, 150, 100, 50, 0]);
        assert_eq!(strided_timesteps(3, 10), vec![3, 2, 1, 0]);
        assert_eq!(strided_timesteps(250, 1), vec![250]);
        assert_eq!(strided_timesteps(0, 5), vec![0]);
        let chain = strided_timesteps(999, 25);
        assert_eq!((chain[0], chain[24], chain.len()), (999, 0, 25));
    }
}

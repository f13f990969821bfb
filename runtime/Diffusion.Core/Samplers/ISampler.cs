namespace Diffusion.Runtime.Samplers;

/// <summary>Reverse-process samplers.</summary>
public enum SamplerKind
{
    /// <summary>Ancestral DDPM (Ho et al. 2020, Alg. 2) with the posterior variance, at T or fewer steps.</summary>
    Ddpm,
    /// <summary>DDIM (Song et al. 2021); eta = 0 is deterministic.</summary>
    Ddim,
    /// <summary>DPM-Solver++ 2M (Lu et al. 2022), multistep, data prediction.</summary>
    DpmSolverPlusPlus,
    /// <summary>DPM-Solver++ 3M (Lu et al. 2022, third-order multistep), with the lower-order warm-up and final steps.</summary>
    DpmSolverPlusPlus3M,
}

/// <summary>How inference timesteps are picked from 0..T-1 (diffusers' <c>timestep_spacing</c>).</summary>
public enum TimestepSpacing
{
    /// <summary>round(linspace(0, T - 1, n)), descending.</summary>
    Linspace,
    /// <summary>(0..n-1) * (T / n) (integer ratio), descending.</summary>
    Leading,
    /// <summary>round(arange(T, 0, -T / n)) - 1, descending; always starts at T - 1.</summary>
    Trailing,
}

/// <summary>
/// A reverse-process sampler in the diffusers shape: it holds no model. Call <see cref="SetTimesteps"/>, then for
/// each t in <see cref="Timesteps"/> (in order) run the model and call <see cref="Step"/>. The loop never needs to
/// know which sampler it has. All spans are one batch flattened, [N * C * H * W], and every sample in the batch is
/// at the same timestep. After the last step the sample is at alpha_bar = 1 (clean data). Samplers may keep state
/// between steps (multistep solvers) and scratch buffers: use one instance per generation; they are not thread-safe.
/// </summary>
public interface ISampler
{
    /// <summary>The schedule the model was trained with.</summary>
    NoiseSchedule Schedule { get; }

    /// <summary>What the model outputs (epsilon, x0 or v).</summary>
    PredictionType Prediction { get; }

    /// <summary>Model timesteps to visit, descending (valid after <see cref="SetTimesteps"/>).</summary>
    IReadOnlyList<int> Timesteps { get; }

    /// <summary>True when <see cref="Step"/> reads the <c>noise</c> argument (stochastic samplers).</summary>
    bool UsesNoise { get; }

    /// <summary>Chooses <paramref name="numInferenceSteps"/> timesteps and resets any multistep state.</summary>
    /// <exception cref="InvalidInputException">Steps below 1 or above T.</exception>
    void SetTimesteps(int numInferenceSteps);

    /// <summary>
    /// One reverse step from x_t to x_{t_prev}, where t_prev is the next entry of <see cref="Timesteps"/> (or clean
    /// data after the last one). <paramref name="modelOutput"/> is the model's native prediction (epsilon, x0 or v)
    /// at (<paramref name="sample"/>, <paramref name="t"/>); <paramref name="noise"/> holds standard normal draws
    /// (read only when <see cref="UsesNoise"/>; may be empty otherwise). Writes the previous sample and the
    /// predicted x0 (after clipping / thresholding). Spans are [N * C * H * W]; outputs may not alias inputs.
    /// </summary>
    /// <param name="modelOutput">Model prediction, [N * C * H * W].</param>
    /// <param name="t">Current model timestep; must be an entry of <see cref="Timesteps"/>.</param>
    /// <param name="sample">x_t, [N * C * H * W].</param>
    /// <param name="noise">z ~ N(0, I), [N * C * H * W] (stochastic samplers only).</param>
    /// <param name="prevSample">Receives x_{t_prev}, [N * C * H * W].</param>
    /// <param name="predX0">Receives the predicted x0, [N * C * H * W].</param>
    /// <param name="sampleSize">Elements per sample (C * H * W). Only dynamic thresholding needs it (it is per
    /// sample); 0 means "not given", which thresholding refuses.</param>
    void Step(ReadOnlySpan<float> modelOutput, int t, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise,
        Span<float> prevSample, Span<float> predX0, int sampleSize = 0);
}

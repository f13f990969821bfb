namespace Diffusion.Runtime.Samplers;

/// <summary>
/// Ancestral DDPM sampling (Ho, Jain &amp; Abbeel 2020, Alg. 2) with the posterior variance beta~ ("fixed_small").
/// With fewer than T steps the per-step beta is recomputed from the alpha_bar of the chosen timesteps,
/// beta'_t = 1 - alpha_bar_t / alpha_bar_prev, as diffusers' DDPMScheduler does; with T steps it is exactly Alg. 2.
/// </summary>
public sealed class DdpmSampler : SamplerBase
{
    /// <summary>Creates a DDPM sampler.</summary>
    /// <exception cref="InvalidInputException">Invalid options (eta must be 0: DDPM's variance is fixed).</exception>
    public DdpmSampler(NoiseSchedule schedule, PredictionType prediction, SamplerOptions? options = null)
        : base(schedule, prediction, options ?? SamplerOptions.Default)
    {
        if (Options.Eta != 0) throw new InvalidInputException($"eta = {Options.Eta} applies to the DDIM sampler only; DDPM uses the posterior variance (use eta 0).");
    }

    /// <inheritdoc/>
    public override bool UsesNoise => true;

    /// <inheritdoc/>
    public override void Step(ReadOnlySpan<float> modelOutput, int t, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise,
        Span<float> prevSample, Span<float> predX0, int sampleSize = 0)
    {
        CheckLengths(modelOutput, sample, noise, prevSample, predX0);
        int i = IndexOf(t);
        // 1. alpha_bar at t and at the previous timestep of the list (1 after the last step)
        double abT = Schedule.AlphasCumprod[t];
        double abPrev = AlphaBarPrev(i);
        // 2. the step's own alpha and beta: alpha'_t = ab_t / ab_prev, beta'_t = 1 - alpha'_t
        //    (equal to the schedule's alpha_t, beta_t when no step is skipped)
        double alphaT = abT / abPrev, betaT = 1 - alphaT;
        // 3. predicted x0 from the model output (Ho et al. eq. 15 for epsilon models), clipped or thresholded
        PredictX0(modelOutput, abT, sample, predX0, sampleSize);
        // 4. posterior mean mu~(x_t, x0) = sqrt(ab_prev) beta'_t / (1 - ab_t) x0 + sqrt(alpha'_t) (1 - ab_prev) / (1 - ab_t) x_t
        //    (Ho et al. eq. 7)
        double c0 = Math.Sqrt(abPrev) * betaT / (1 - abT);
        double ct = Math.Sqrt(alphaT) * (1 - abPrev) / (1 - abT);
        // 5. posterior variance beta~ = (1 - ab_prev) / (1 - ab_t) beta'_t (Ho et al. eq. 7); 0 into clean data
        double variance = (1 - abPrev) / (1 - abT) * betaT;
        float a = (float)c0, b = (float)ct, s = (float)Math.Sqrt(Math.Max(variance, 0));
        // 6. x_prev = mu~ + sqrt(beta~) z (Ho et al. Alg. 2, line 4)
        if (s > 0)
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * predX0[k] + b * sample[k] + s * noise[k];
        else
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * predX0[k] + b * sample[k];
    }
}

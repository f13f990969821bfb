namespace Diffusion.Runtime.Samplers;

/// <summary>Options shared by every sampler (diffusers' scheduler config names in brackets).</summary>
public sealed record SamplerOptions
{
    /// <summary>Default options: trailing spacing, eta 0, no clipping, no thresholding.</summary>
    public static SamplerOptions Default { get; } = new();

    /// <summary>
    /// Defaults for image models ([-1, 1] pixels): <see cref="Default"/> with predicted x0 clipped to [-1, 1], as
    /// diffusers' pixel-space schedulers do (clip_sample = True). Without it, an epsilon model's first trailing step
    /// at t = T - 1, where alpha_bar is nearly 0 (the cosine schedule clips beta at 0.999), divides its small
    /// epsilon error by sqrt(alpha_bar) and the samples blow up. the runtime's `GenerationRequest`, the generate CLI
    /// and the evaluator use these.
    /// </summary>
    public static SamplerOptions Images { get; } = new() { ClipSample = true };

    /// <summary>
    /// DDIM stochasticity [eta]: 0 deterministic, 1 DDPM-like variance. Only DDIM reads it; the factory refuses a
    /// non-zero value for the other samplers.
    /// </summary>
    public double Eta { get; init; }

    /// <summary>
    /// Timestep layout [timestep_spacing]. Default <see cref="TimestepSpacing.Trailing"/>: the first step is at
    /// t = T - 1, where x_T ~ N(0, I) is the right start (Lin et al. 2024, "Common Diffusion Noise Schedules and
    /// Sample Steps are Flawed", sec. 3.3); with n = T every spacing gives T-1..0.
    /// </summary>
    public TimestepSpacing Spacing { get; init; } = TimestepSpacing.Trailing;

    /// <summary>Clip the predicted x0 to [-<see cref="ClipRange"/>, <see cref="ClipRange"/>] [clip_sample].</summary>
    public bool ClipSample { get; init; }

    /// <summary>Bound of <see cref="ClipSample"/> [clip_sample_range], default 1 (the pixel range).</summary>
    public double ClipRange { get; init; } = 1.0;

    /// <summary>
    /// Dynamic thresholding of the predicted x0 (Saharia et al. 2022, Imagen, sec. 2.3) [thresholding]: per
    /// sample, s = max(quantile(|x0|, <see cref="ThresholdingRatio"/>), 1), clamped to
    /// <see cref="SampleMaxValue"/>; x0 = clamp(x0, -s, s) / s. Takes precedence over <see cref="ClipSample"/>.
    /// </summary>
    public bool Thresholding { get; init; }

    /// <summary>Percentile of |x0| used by dynamic thresholding [dynamic_thresholding_ratio], default 0.995.</summary>
    public double ThresholdingRatio { get; init; } = 0.995;

    /// <summary>
    /// Upper bound of the threshold s [sample_max_value]. Default +infinity, Imagen's rule; diffusers' default 1.0
    /// would make thresholding the same as clipping.
    /// </summary>
    public double SampleMaxValue { get; init; } = double.PositiveInfinity;

    /// <summary>Checks ranges.</summary>
    /// <exception cref="InvalidInputException">A value is out of range; the message names it.</exception>
    public void Validate()
    {
        if (!double.IsFinite(Eta) || Eta < 0) throw new InvalidInputException($"Sampler eta = {Eta}; expected a finite value >= 0.");
        if (!(ClipRange > 0)) throw new InvalidInputException($"Sampler clip range = {ClipRange}; expected a value > 0.");
        if (!(ThresholdingRatio > 0 && ThresholdingRatio <= 1))
            throw new InvalidInputException($"Dynamic thresholding ratio = {ThresholdingRatio}; expected a value in (0, 1].");
        if (!(SampleMaxValue >= 1)) throw new InvalidInputException($"Dynamic thresholding sample max value = {SampleMaxValue}; expected a value >= 1.");
        if (!Enum.IsDefined(Spacing)) throw new InvalidInputException($"Timestep spacing {Spacing} is unknown; expected linspace, leading or trailing.");
    }
}

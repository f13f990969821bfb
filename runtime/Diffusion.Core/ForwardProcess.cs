namespace Diffusion.Runtime;

/// <summary>
/// The forward (noising) process q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) (Ho et al. 2020, eq. 4),
/// the one definition that training, int8 calibration, evaluation and the pictures of the forward process use.
/// The coefficients come from <see cref="NoiseSchedule"/> (float64, computed once).
/// </summary>
public static class ForwardProcess
{
    /// <summary>
    /// Probability of the null label when labelled images are noised for training or calibration: the default label
    /// dropout of classifier-free guidance (Ho &amp; Salimans 2022 train with 0.1 to 0.2).
    /// </summary>
    public const double DefaultNullLabelRate = 0.1;

    /// <summary>x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps in float32, as the trainer's tensors compute it.</summary>
    /// <param name="schedule">The noise schedule.</param>
    /// <param name="t">Timestep 0..T-1.</param>
    /// <param name="x0">Clean image(s), [-1, 1].</param>
    /// <param name="eps">Standard normal noise, same length.</param>
    /// <param name="xt">Output, same length.</param>
    public static void Sample(NoiseSchedule schedule, int t, ReadOnlySpan<float> x0, ReadOnlySpan<float> eps, Span<float> xt)
        => Prediction.Apply(new(schedule.SqrtAlphasCumprod[t], schedule.SqrtOneMinusAlphasCumprod[t]), x0, eps, xt);

    /// <summary>The same sample computed in float64 and rounded once (the int8 calibration's inputs).</summary>
    /// <inheritdoc cref="Sample" path="/param"/>
    public static void SampleExact(NoiseSchedule schedule, int t, ReadOnlySpan<float> x0, ReadOnlySpan<float> eps, Span<float> xt)
    {
        if (x0.Length != eps.Length || xt.Length != x0.Length)
            throw new ArgumentException($"Span lengths differ: {x0.Length}, {eps.Length}, {xt.Length}.");
        double a = schedule.SqrtAlphasCumprod[t], s = schedule.SqrtOneMinusAlphasCumprod[t];
        for (int i = 0; i < xt.Length; i++) xt[i] = (float)(a * x0[i] + s * eps[i]);
    }
}

namespace Diffusion.Runtime.Samplers;

/// <summary>
/// DDIM (Song, Meng &amp; Ermon 2021). eta = 0 is deterministic; eta = 1 gives DDPM's posterior variance.
/// The previous timestep is the next entry of <see cref="SamplerBase.Timesteps"/> (not t - T/n), and
/// alpha_bar = 1 after the last step, so the last step returns the predicted x0.
/// </summary>
public sealed class DdimSampler : SamplerBase
{
    /// <summary>Creates a DDIM sampler (the trainer's short form).</summary>
    /// <param name="schedule">The training schedule.</param>
    /// <param name="prediction">What the model outputs.</param>
    /// <param name="eta">Stochasticity, 0 (deterministic) to 1.</param>
    /// <param name="spacing">How timesteps are laid out.</param>
    /// <param name="clipSample">Clip predicted x0 to [-1, 1].</param>
    /// <exception cref="InvalidInputException">eta negative or not finite.</exception>
    public DdimSampler(NoiseSchedule schedule, PredictionType prediction, double eta = 0,
        TimestepSpacing spacing = TimestepSpacing.Leading, bool clipSample = false)
        : this(schedule, prediction, new SamplerOptions { Eta = eta, Spacing = spacing, ClipSample = clipSample }) { }

    /// <summary>Creates a DDIM sampler from full options.</summary>
    /// <exception cref="InvalidInputException">Invalid options.</exception>
    public DdimSampler(NoiseSchedule schedule, PredictionType prediction, SamplerOptions options)
        : base(schedule, prediction, options) { }

    /// <summary>Stochasticity eta.</summary>
    public double Eta => Options.Eta;
    /// <summary>Timestep spacing.</summary>
    public TimestepSpacing Spacing => Options.Spacing;
    /// <summary>Whether predicted x0 is clipped.</summary>
    public bool ClipSample => Options.ClipSample;
    /// <inheritdoc/>
    public override bool UsesNoise => Eta > 0;

    /// <inheritdoc/>
    public override void Step(ReadOnlySpan<float> modelOutput, int t, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise,
        Span<float> prevSample, Span<float> predX0, int sampleSize = 0)
    {
        CheckLengths(modelOutput, sample, noise, prevSample, predX0);
        int i = IndexOf(t);
        // 1. alpha_bar at t and at the previous timestep of the list (1 after the last step)
        double abT = Schedule.AlphasCumprod[t];
        double abPrev = AlphaBarPrev(i);
        // 2. predicted x0 (Song et al. eq. 9 for epsilon models; Prediction.ToX0 for x0 / v), clipped or thresholded;
        //    eps is re-derived from this x0 below so that clipping acts consistently on both terms
        PredictX0(modelOutput, abT, sample, predX0, sampleSize);
        // 3. sigma_t(eta) = eta * sqrt((1 - ab_prev) / (1 - ab_t)) * sqrt(1 - ab_t / ab_prev) (Song et al. eq. 16)
        double sigma = Eta * Math.Sqrt((1 - abPrev) / (1 - abT)) * Math.Sqrt(1 - abT / abPrev);
        // 4. x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z (Song et al. eq. 12),
        //    with eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t): one fused a * x0 + b * x_t (+ s * z) per element
        double cX0 = Math.Sqrt(abPrev), cDir = Math.Sqrt(Math.Max(1 - abPrev - sigma * sigma, 0));
        double sA = Math.Sqrt(abT), sS = Math.Sqrt(1 - abT);
        float a = (float)(cX0 - cDir * sA / sS), b = (float)(cDir / sS), s = (float)sigma;
        if (s > 0)
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * predX0[k] + b * sample[k] + s * noise[k];
        else
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * predX0[k] + b * sample[k];
    }
}

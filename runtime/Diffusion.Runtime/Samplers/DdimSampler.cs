namespace Diffusion.Runtime.Samplers;

/// <summary>
/// DDIM (Song, Meng &amp; Ermon 2021). eta = 0 is deterministic; eta = 1 matches DDPM's ancestral variance.
/// The previous timestep is the next entry of <see cref="Timesteps"/>, and alpha_bar = 1 after the last step.
/// </summary>
public sealed class DdimSampler : ISampler
{
    private int[] _timesteps = [];

    /// <summary>Creates a DDIM sampler.</summary>
    /// <param name="schedule">The training schedule.</param>
    /// <param name="prediction">What the model outputs.</param>
    /// <param name="eta">Stochasticity, 0 (deterministic) to 1.</param>
    /// <param name="spacing">How timesteps are laid out.</param>
    /// <param name="clipSample">Clip predicted x0 to [-1, 1].</param>
    public DdimSampler(NoiseSchedule schedule, PredictionType prediction, double eta = 0,
        TimestepSpacing spacing = TimestepSpacing.Leading, bool clipSample = false)
    {
        if (!(eta >= 0) || !double.IsFinite(eta)) throw new InvalidInputException($"DDIM eta = {eta}; expected a finite value >= 0.");
        Schedule = schedule; Prediction = prediction; Eta = eta; Spacing = spacing; ClipSample = clipSample;
    }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }
    /// <summary>What the model outputs.</summary>
    public PredictionType Prediction { get; }
    /// <summary>Stochasticity eta.</summary>
    public double Eta { get; }
    /// <summary>Timestep spacing.</summary>
    public TimestepSpacing Spacing { get; }
    /// <summary>Whether predicted x0 is clipped to [-1, 1].</summary>
    public bool ClipSample { get; }
    /// <inheritdoc/>
    public IReadOnlyList<int> Timesteps => _timesteps;
    /// <inheritdoc/>
    public bool UsesNoise => Eta > 0;

    /// <inheritdoc/>
    public void SetTimesteps(int numInferenceSteps) => _timesteps = TimestepSchedule.Create(Schedule.T, numInferenceSteps, Spacing);

    /// <inheritdoc/>
    public void Step(ReadOnlySpan<float> modelOutput, int t, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise,
        Span<float> prevSample, Span<float> predX0)
    {
        int i = Array.IndexOf(_timesteps, t);
        if (i < 0) throw new ArgumentException($"Timestep {t} is not in this sampler's timesteps; call SetTimesteps first.");
        // 1. alpha_bar at t and at the previous timestep (1 after the last step)
        double abT = Schedule.AlphasCumprod[t];
        double abPrev = i + 1 < _timesteps.Length ? Schedule.AlphasCumprod[_timesteps[i + 1]] : 1.0;
        // 2. predicted x0 and eps from the model output (eps re-derived from the clipped x0 when clipping)
        var x0c = Runtime.Prediction.ToX0(Prediction, abT);
        Runtime.Prediction.Apply(x0c, sample, modelOutput, predX0);
        if (ClipSample) for (int k = 0; k < predX0.Length; k++) predX0[k] = Math.Clamp(predX0[k], -1f, 1f);
        // 3. sigma_t (Song et al. eq. 16)
        double sigma = Eta * Math.Sqrt((1 - abPrev) / (1 - abT)) * Math.Sqrt(1 - abT / abPrev);
        // 4. x_{t-1} = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps + sigma z (Song et al. eq. 12),
        //    with eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)
        double cX0 = Math.Sqrt(abPrev), cDir = Math.Sqrt(Math.Max(1 - abPrev - sigma * sigma, 0));
        double sA = Math.Sqrt(abT), sS = Math.Sqrt(1 - abT);
        float a = (float)(cX0 - cDir * sA / sS), b = (float)(cDir / sS), s = (float)sigma;
        for (int k = 0; k < prevSample.Length; k++)
            prevSample[k] = a * predX0[k] + b * sample[k] + (s > 0 ? s * noise[k] : 0f);
    }
}

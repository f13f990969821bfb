namespace Diffusion.Runtime.Samplers;

/// <summary>
/// What every sampler shares: the timestep list, the previous timestep taken from that list (with alpha_bar = 1
/// after the last step), and the model output turned into a predicted x0 with optional clipping or dynamic
/// thresholding.
/// </summary>
public abstract class SamplerBase : ISampler
{
    private int[] _timesteps = [];
    private float[] _scratch = [];

    /// <summary>Creates a sampler over <paramref name="schedule"/> for a model predicting <paramref name="prediction"/>.</summary>
    /// <exception cref="InvalidInputException">Invalid options.</exception>
    protected SamplerBase(NoiseSchedule schedule, PredictionType prediction, SamplerOptions options)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (!Enum.IsDefined(prediction)) throw new InvalidInputException($"Prediction type {prediction} is unknown; expected epsilon, x0 or v.");
        Schedule = schedule; Prediction = prediction; Options = options;
    }

    /// <inheritdoc/>
    public NoiseSchedule Schedule { get; }
    /// <inheritdoc/>
    public PredictionType Prediction { get; }
    /// <summary>The options this sampler was built with.</summary>
    public SamplerOptions Options { get; }
    /// <inheritdoc/>
    public IReadOnlyList<int> Timesteps => _timesteps;
    /// <inheritdoc/>
    public abstract bool UsesNoise { get; }

    /// <inheritdoc/>
    public virtual void SetTimesteps(int numInferenceSteps)
        => _timesteps = TimestepSchedule.Create(Schedule.T, numInferenceSteps, Options.Spacing);

    /// <inheritdoc/>
    public abstract void Step(ReadOnlySpan<float> modelOutput, int t, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise,
        Span<float> prevSample, Span<float> predX0, int sampleSize = 0);

    /// <summary>Position of <paramref name="t"/> in <see cref="Timesteps"/>.</summary>
    /// <exception cref="ArgumentException">t is not in the list (or SetTimesteps was not called).</exception>
    protected int IndexOf(int t)
    {
        int i = Array.IndexOf(_timesteps, t);
        if (i < 0) throw new ArgumentException($"Timestep {t} is not in this sampler's timesteps; call SetTimesteps first.", nameof(t));
        return i;
    }

    /// <summary>alpha_bar at the timestep after entry <paramref name="i"/> of the list; 1 after the last entry (clean data).</summary>
    protected double AlphaBarPrev(int i) => i + 1 < _timesteps.Length ? Schedule.AlphasCumprod[_timesteps[i + 1]] : 1.0;

    /// <summary>Checks span lengths of a step.</summary>
    protected void CheckLengths(ReadOnlySpan<float> modelOutput, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise,
        Span<float> prevSample, Span<float> predX0)
    {
        int n = sample.Length;
        if (modelOutput.Length != n || prevSample.Length != n || predX0.Length != n || (UsesNoise && noise.Length != n))
            throw new ArgumentException($"Sampler step: span lengths differ (model output {modelOutput.Length}, sample {n}, " +
                $"noise {noise.Length}, prev {prevSample.Length}, x0 {predX0.Length}).");
    }

    /// <summary>
    /// predX0 = x0 from the model output at alpha_bar_t (Prediction.ToX0), then dynamic thresholding or clipping
    /// when enabled.
    /// </summary>
    protected void PredictX0(ReadOnlySpan<float> modelOutput, double alphaBarT, ReadOnlySpan<float> sample, Span<float> predX0, int sampleSize)
    {
        Runtime.Prediction.Apply(Runtime.Prediction.ToX0(Prediction, alphaBarT), sample, modelOutput, predX0);
        if (Options.Thresholding)
        {
            if (sampleSize <= 0 || predX0.Length % sampleSize != 0)
                throw new ArgumentException($"Dynamic thresholding is per sample: pass sampleSize (C * H * W) dividing the span length {predX0.Length}; got {sampleSize}.", nameof(sampleSize));
            if (_scratch.Length != sampleSize) _scratch = new float[sampleSize]; // once per generation
            for (int o = 0; o < predX0.Length; o += sampleSize)
                DynamicThreshold(predX0.Slice(o, sampleSize), Options.ThresholdingRatio, Options.SampleMaxValue, _scratch);
        }
        else if (Options.ClipSample)
        {
            float c = (float)Options.ClipRange;
            for (int k = 0; k < predX0.Length; k++) predX0[k] = Math.Clamp(predX0[k], -c, c);
        }
    }

    /// <summary>
    /// Dynamic thresholding of one sample in place (Saharia et al. 2022, sec. 2.3; diffusers' _threshold_sample):
    /// 1. s = quantile(|x0|, ratio) with linear interpolation (torch.quantile); 2. s = clamp(s, 1, maxValue);
    /// 3. x0 = clamp(x0, -s, s) / s. <paramref name="scratch"/> must be as long as <paramref name="x0"/>.
    /// </summary>
    public static void DynamicThreshold(Span<float> x0, double ratio, double maxValue, Span<float> scratch)
    {
        int n = x0.Length;
        if (n == 0) return;
        if (scratch.Length < n) throw new ArgumentException("Scratch span is shorter than the sample.", nameof(scratch));
        var abs = scratch[..n];
        for (int k = 0; k < n; k++) abs[k] = Math.Abs(x0[k]);
        abs.Sort();
        // 1. quantile by linear interpolation between order statistics
        double pos = ratio * (n - 1);
        int lo = (int)Math.Floor(pos);
        int hi = Math.Min(lo + 1, n - 1);
        double s = abs[lo] + (pos - lo) * (abs[hi] - abs[lo]);
        // 2. never shrink samples already inside [-1, 1]
        s = Math.Clamp(s, 1.0, maxValue);
        // 3. clamp and rescale into [-1, 1]
        float sf = (float)s, inv = (float)(1.0 / s);
        for (int k = 0; k < n; k++) x0[k] = Math.Clamp(x0[k], -sf, sf) * inv;
    }
}

namespace Diffusion.Runtime.Samplers;

/// <summary>
/// DPM-Solver++(2M) (Lu, Zhou, Bao, Chen, Li &amp; Zhu 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
/// Diffusion Probabilistic Models", Alg. 2): a second-order multistep solver of the diffusion ODE in its data
/// prediction form (eq. 9), deterministic. The first step has no history and the last step goes to
/// alpha_bar = 1 (sigma = 0, lambda = +inf), so both are first order (DPM-Solver++1, which equals DDIM with
/// eta 0): diffusers' <c>lower_order_final</c> with <c>final_sigmas_type="zero"</c>.
/// Notation: alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), lambda_t = log(alpha_t / sigma_t).
/// </summary>
public sealed class DpmSolverPlusPlusSampler : SamplerBase
{
    private float[] _prevX0 = [];  // x0 prediction at the previous step (the multistep history, Alg. 2's Q buffer)
    private int _lastIndex = -1;   // index in Timesteps of the previous Step call

    /// <summary>Creates a DPM-Solver++(2M) sampler.</summary>
    /// <exception cref="InvalidInputException">Invalid options (eta must be 0: the solver is deterministic).</exception>
    public DpmSolverPlusPlusSampler(NoiseSchedule schedule, PredictionType prediction, SamplerOptions? options = null)
        : base(schedule, prediction, options ?? SamplerOptions.Default)
    {
        if (Options.Eta != 0) throw new InvalidInputException($"eta = {Options.Eta} applies to the DDIM sampler only; DPM-Solver++(2M) is deterministic (use eta 0).");
    }

    /// <inheritdoc/>
    public override bool UsesNoise => false;

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        base.SetTimesteps(numInferenceSteps);
        _lastIndex = -1;
    }

    /// <summary>lambda_t = log(alpha_t / sigma_t) = 0.5 * log(ab / (1 - ab)) (half log-SNR, Lu et al. sec. 2).</summary>
    private static double Lambda(double alphaBar) => 0.5 * Math.Log(alphaBar / (1 - alphaBar));

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">Steps not taken in the order of <see cref="SamplerBase.Timesteps"/>.</exception>
    public override void Step(ReadOnlySpan<float> modelOutput, int t, ReadOnlySpan<float> sample, ReadOnlySpan<float> noise,
        Span<float> prevSample, Span<float> predX0, int sampleSize = 0)
    {
        CheckLengths(modelOutput, sample, noise, prevSample, predX0);
        int i = IndexOf(t);
        if (i != 0 && i != _lastIndex + 1)
            throw new InvalidOperationException($"DPM-Solver++ is multistep: step {i} (t = {t}) follows step {_lastIndex}; take the timesteps in order.");
        // 1. data prediction x0_theta(x_s0, s0) from the model output (Lu et al. eq. 9), clipped or thresholded
        double abS0 = Schedule.AlphasCumprod[t];
        PredictX0(modelOutput, abS0, sample, predX0, sampleSize);
        // 2. target t_i = next timestep of the list; alpha_bar = 1 after the last step
        double abT = AlphaBarPrev(i);
        double alphaT = Math.Sqrt(abT), sigmaT = Math.Sqrt(1 - abT), sigmaS0 = Math.Sqrt(1 - abS0);
        bool final = i == Timesteps.Count - 1;
        if (final || i == 0)
        {
            // 3a. first order, DPM-Solver++1 (Lu et al. eq. 10 with k = 1):
            //     x_t = (sigma_t / sigma_s0) x_s0 - alpha_t (e^{-h} - 1) x0_s0,  h = lambda_t - lambda_s0.
            //     Into clean data (sigma_t = 0, h = +inf) this is x_t = x0_s0.
            double ratio = sigmaT / sigmaS0;
            double c = final ? 1.0 : alphaT * -double.ExpM1(-(Lambda(abT) - Lambda(abS0)));
            float a = (float)ratio, b = (float)c;
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * sample[k] + b * predX0[k];
        }
        else
        {
            // 3b. second order multistep (Lu et al. Alg. 2, lines 5-6), with s1 = the previous timestep:
            //     h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1, r = h_0 / h,
            //     D = (1 + 1 / (2r)) x0_s0 - 1 / (2r) x0_s1,
            //     x_t = (sigma_t / sigma_s0) x_s0 - alpha_t (e^{-h} - 1) D
            double abS1 = Schedule.AlphasCumprod[Timesteps[i - 1]];
            double lT = Lambda(abT), lS0 = Lambda(abS0), lS1 = Lambda(abS1);
            double h = lT - lS0, r = (lS0 - lS1) / h;
            double phi = alphaT * -double.ExpM1(-h);            // -alpha_t (e^{-h} - 1)
            float a = (float)(sigmaT / sigmaS0);
            float b0 = (float)(phi * (1 + 1 / (2 * r))), b1 = (float)(-phi / (2 * r));
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * sample[k] + b0 * predX0[k] + b1 * _prevX0[k];
        }
        // 4. keep x0_s0 as the history for the next step
        if (_prevX0.Length != predX0.Length) _prevX0 = new float[predX0.Length]; // once per generation
        predX0.CopyTo(_prevX0);
        _lastIndex = i;
    }
}

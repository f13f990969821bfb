namespace Diffusion.Runtime.Samplers;

/// <summary>
/// DPM-Solver++ (Lu, Zhou, Bao, Chen, Li &amp; Zhu 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
/// Diffusion Probabilistic Models"): a multistep solver of the diffusion ODE in its data prediction form (eq. 9),
/// deterministic, of order 2 (2M, Alg. 2) or 3 (3M, the third-order multistep update of the paper's appendix, as
/// diffusers' <c>DPMSolverMultistepScheduler</c> with <c>solver_order=3</c> writes it).
/// The order warms up with the history: step 0 is first order (no history), step 1 at most second. The last step
/// goes to alpha_bar = 1 (sigma = 0, lambda = +inf) and is first order (DPM-Solver++1, which equals DDIM with eta 0):
/// diffusers' <c>final_sigmas_type="zero"</c>; with fewer than 15 steps the one before it is at most second order
/// (diffusers' <c>lower_order_final</c>), which keeps few-step sampling stable.
/// Notation: alpha_t = sqrt(alpha_bar_t), sigma_t = sqrt(1 - alpha_bar_t), lambda_t = log(alpha_t / sigma_t).
/// </summary>
public sealed class DpmSolverPlusPlusSampler : SamplerBase
{
    private float[] _prevX0 = [];  // x0 prediction at the previous step (the multistep history, Alg. 2's Q buffer)
    private float[] _prevX0b = []; // and at the one before (3M only)
    private int _lastIndex = -1;   // index in Timesteps of the previous Step call

    /// <summary>Creates a DPM-Solver++ sampler of order 2 (2M, the default) or 3 (3M).</summary>
    /// <exception cref="InvalidInputException">Invalid options (eta must be 0: the solver is deterministic), or an order other than 2 or 3.</exception>
    public DpmSolverPlusPlusSampler(NoiseSchedule schedule, PredictionType prediction, SamplerOptions? options = null, int order = 2)
        : base(schedule, prediction, options ?? SamplerOptions.Default)
    {
        if (order is not (2 or 3)) throw new InvalidInputException($"DPM-Solver++ order {order}; expected 2 (2M) or 3 (3M).");
        Order = order;
        if (Options.Eta != 0) throw new InvalidInputException($"eta = {Options.Eta} applies to the DDIM sampler only; DPM-Solver++({order}M) is deterministic (use eta 0).");
    }

    /// <summary>Highest order of the multistep update: 2 (2M) or 3 (3M).</summary>
    public int Order { get; }

    /// <inheritdoc/>
    public override bool UsesNoise => false;

    /// <inheritdoc/>
    public override void SetTimesteps(int numInferenceSteps)
    {
        base.SetTimesteps(numInferenceSteps);
        _lastIndex = -1;
    }

    /// <summary>The order of the update at step <paramref name="i"/> of <paramref name="steps"/> (warm-up and the lower-order final steps).</summary>
    public int OrderAt(int i, int steps)
    {
        if (i == steps - 1) return 1;                                      // into clean data: sigma_t = 0
        int order = Math.Min(Order, i + 1);                                // history of i earlier x0 predictions
        if (i == steps - 2 && steps < 15) order = Math.Min(order, 2);       // lower_order_final
        return order;
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
        int order = OrderAt(i, Timesteps.Count);
        if (order == 1)
        {
            // 3a. first order, DPM-Solver++1 (Lu et al. eq. 10 with k = 1):
            //     x_t = (sigma_t / sigma_s0) x_s0 - alpha_t (e^{-h} - 1) x0_s0,  h = lambda_t - lambda_s0.
            //     Into clean data (sigma_t = 0, h = +inf) this is x_t = x0_s0.
            double ratio = sigmaT / sigmaS0;
            double c = final ? 1.0 : alphaT * -double.ExpM1(-(Lambda(abT) - Lambda(abS0)));
            float a = (float)ratio, b = (float)c;
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * sample[k] + b * predX0[k];
        }
        else if (order == 2)
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
        else
        {
            // 3c. third order multistep (Lu et al. 2022, appendix; diffusers' multistep_dpm_solver_third_order_update),
            //     with s1, s2 the two previous timesteps and m0, m1, m2 their x0 predictions:
            //     h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1, h_1 = lambda_s1 - lambda_s2, r0 = h_0 / h, r1 = h_1 / h,
            //     D1_0 = (m0 - m1) / r0, D1_1 = (m1 - m2) / r1, D1 = D1_0 + r0 / (r0 + r1) (D1_0 - D1_1), D2 = (D1_0 - D1_1) / (r0 + r1),
            //     x_t = (sigma_t / sigma_s0) x_s0 - alpha_t (e^{-h} - 1) m0 + alpha_t ((e^{-h} - 1) / h + 1) D1
            //           - alpha_t ((e^{-h} - 1 + h) / h^2 - 1/2) D2,
            //     written below as one combination of m0, m1, m2 (coefficients in double, the sum in float32).
            double abS1 = Schedule.AlphasCumprod[Timesteps[i - 1]], abS2 = Schedule.AlphasCumprod[Timesteps[i - 2]];
            double lT = Lambda(abT), lS0 = Lambda(abS0), lS1 = Lambda(abS1), lS2 = Lambda(abS2);
            double h = lT - lS0, r0 = (lS0 - lS1) / h, r1 = (lS1 - lS2) / h;
            double em1 = double.ExpM1(-h);                       // e^{-h} - 1
            double c0 = -alphaT * em1, c1 = alphaT * (em1 / h + 1), c2 = -alphaT * ((em1 + h) / (h * h) - 0.5);
            // D1 = a0 m0 + a1 m1 + a2 m2, D2 = d0 m0 + d1 m1 + d2 m2
            double w = r0 / (r0 + r1), q = 1 / (r0 + r1);
            double a0 = (1 + w) / r0, a1 = -(1 + w) / r0 - w / r1, a2 = w / r1;
            double d0 = q / r0, d1 = -q / r0 - q / r1, d2 = q / r1;
            float a = (float)(sigmaT / sigmaS0);
            float b0 = (float)(c0 + c1 * a0 + c2 * d0), b1 = (float)(c1 * a1 + c2 * d1), b2 = (float)(c1 * a2 + c2 * d2);
            for (int k = 0; k < prevSample.Length; k++) prevSample[k] = a * sample[k] + b0 * predX0[k] + b1 * _prevX0[k] + b2 * _prevX0b[k];
        }
        // 4. keep x0_s0 (and x0_s1 for 3M) as the history for the next steps
        if (_prevX0.Length != predX0.Length)
        {
            _prevX0 = new float[predX0.Length]; // once per generation
            if (Order == 3) _prevX0b = new float[predX0.Length];
        }
        if (Order == 3) (_prevX0, _prevX0b) = (_prevX0b, _prevX0);
        predX0.CopyTo(_prevX0);
        _lastIndex = i;
    }
}

namespace Diffusion.Runtime;

/// <summary>How the forward-process variances beta_1..beta_T are laid out.</summary>
public enum NoiseScheduleKind
{
    /// <summary>Ho et al. 2020: beta linear from 1e-4 to 0.02 (for T = 1000; scaled by 1000 / T otherwise).</summary>
    Linear,
    /// <summary>Nichol &amp; Dhariwal 2021, eq. 17: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi / 2), s = 0.008, beta clipped at 0.999.</summary>
    Cosine,
    /// <summary>sqrt(beta) linear between sqrt(beta_start) and sqrt(beta_end) (diffusers' "scaled_linear").</summary>
    Quadratic,
}

/// <summary>
/// The discrete forward process q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I) and the quantities
/// derived from it, computed once in double precision. Index i = 0..T-1 is the model timestep t (paper's t = i + 1).
/// This is the one definition shared by the trainer, the exporter's metadata and the runtime samplers.
/// </summary>
public sealed class NoiseSchedule
{
    /// <summary>Default s offset of the cosine schedule (Nichol &amp; Dhariwal 2021).</summary>
    public const double DefaultCosineS = 0.008;
    /// <summary>Largest beta the cosine schedule allows (Nichol &amp; Dhariwal 2021).</summary>
    public const double DefaultMaxBeta = 0.999;
    /// <summary>Default beta_1 of the linear / quadratic schedules at T = 1000.</summary>
    public const double DefaultBetaStart = 1e-4;
    /// <summary>Default beta_T of the linear / quadratic schedules at T = 1000.</summary>
    public const double DefaultBetaEnd = 0.02;

    /// <summary>Schedule family.</summary>
    public NoiseScheduleKind Kind { get; }
    /// <summary>Number of diffusion steps T.</summary>
    public int T { get; }
    /// <summary>beta_1 at T = 1000 (linear / quadratic); the value used is scaled by 1000 / T.</summary>
    public double BetaStart { get; }
    /// <summary>beta_T at T = 1000 (linear / quadratic); the value used is scaled by 1000 / T.</summary>
    public double BetaEnd { get; }
    /// <summary>Cosine offset s.</summary>
    public double CosineS { get; }

    /// <summary>beta_t, [T].</summary>
    public double[] Betas { get; }
    /// <summary>alpha_t = 1 - beta_t, [T].</summary>
    public double[] Alphas { get; }
    /// <summary>alpha_bar_t = prod_{s&lt;=t} alpha_s, [T]; strictly decreasing.</summary>
    public double[] AlphasCumprod { get; }
    /// <summary>alpha_bar_{t-1}, with alpha_bar_{-1} = 1, [T].</summary>
    public double[] AlphasCumprodPrev { get; }
    /// <summary>sqrt(alpha_bar_t), [T].</summary>
    public double[] SqrtAlphasCumprod { get; }
    /// <summary>sqrt(1 - alpha_bar_t), [T].</summary>
    public double[] SqrtOneMinusAlphasCumprod { get; }
    /// <summary>1 / sqrt(alpha_bar_t), [T].</summary>
    public double[] SqrtRecipAlphasCumprod { get; }
    /// <summary>sqrt(1 / alpha_bar_t - 1), [T].</summary>
    public double[] SqrtRecipm1AlphasCumprod { get; }
    /// <summary>Posterior variance beta~_t = beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) (Ho et al. eq. 7), [T].</summary>
    public double[] PosteriorVariance { get; }
    /// <summary>log beta~_t with beta~_0 replaced by beta~_1 (it is 0), [T].</summary>
    public double[] PosteriorLogVarianceClipped { get; }
    /// <summary>Coefficient of x_0 in the posterior mean mu~_t (Ho et al. eq. 7), [T].</summary>
    public double[] PosteriorMeanCoef1 { get; }
    /// <summary>Coefficient of x_t in the posterior mean mu~_t (Ho et al. eq. 7), [T].</summary>
    public double[] PosteriorMeanCoef2 { get; }

    /// <summary>Builds a schedule of <paramref name="timesteps"/> steps.</summary>
    /// <exception cref="InvalidInputException">T below 1 or parameters outside their range.</exception>
    public NoiseSchedule(NoiseScheduleKind kind, int timesteps, double betaStart = DefaultBetaStart,
        double betaEnd = DefaultBetaEnd, double cosineS = DefaultCosineS)
    {
        if (timesteps < 1) throw new InvalidInputException($"Noise schedule: T = {timesteps}; expected T >= 1.");
        if (!(betaStart > 0) || !(betaEnd > betaStart) || !(betaEnd < 1))
            throw new InvalidInputException($"Noise schedule: beta_start = {betaStart}, beta_end = {betaEnd}; expected 0 < beta_start < beta_end < 1.");
        if (!(cosineS > 0)) throw new InvalidInputException($"Noise schedule: cosine s = {cosineS}; expected s > 0.");
        Kind = kind; T = timesteps; BetaStart = betaStart; BetaEnd = betaEnd; CosineS = cosineS;

        Betas = kind switch
        {
            NoiseScheduleKind.Linear => LinearBetas(timesteps, betaStart, betaEnd),
            NoiseScheduleKind.Cosine => CosineBetas(timesteps, cosineS, DefaultMaxBeta),
            NoiseScheduleKind.Quadratic => QuadraticBetas(timesteps, betaStart, betaEnd),
            _ => throw new InvalidInputException($"Noise schedule: unknown kind {kind}; expected linear, cosine or quadratic."),
        };

        int n = timesteps;
        Alphas = new double[n]; AlphasCumprod = new double[n]; AlphasCumprodPrev = new double[n];
        SqrtAlphasCumprod = new double[n]; SqrtOneMinusAlphasCumprod = new double[n];
        SqrtRecipAlphasCumprod = new double[n]; SqrtRecipm1AlphasCumprod = new double[n];
        PosteriorVariance = new double[n]; PosteriorLogVarianceClipped = new double[n];
        PosteriorMeanCoef1 = new double[n]; PosteriorMeanCoef2 = new double[n];

        double cumprod = 1.0;
        for (int i = 0; i < n; i++)
        {
            Alphas[i] = 1.0 - Betas[i];
            AlphasCumprodPrev[i] = cumprod;
            cumprod *= Alphas[i];
            AlphasCumprod[i] = cumprod;
            SqrtAlphasCumprod[i] = Math.Sqrt(cumprod);
            SqrtOneMinusAlphasCumprod[i] = Math.Sqrt(1.0 - cumprod);
            SqrtRecipAlphasCumprod[i] = Math.Sqrt(1.0 / cumprod);
            SqrtRecipm1AlphasCumprod[i] = Math.Sqrt(1.0 / cumprod - 1.0);
            // Ho et al. 2020, eq. 7: q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I)
            PosteriorVariance[i] = Betas[i] * (1.0 - AlphasCumprodPrev[i]) / (1.0 - cumprod);
            PosteriorMeanCoef1[i] = Betas[i] * Math.Sqrt(AlphasCumprodPrev[i]) / (1.0 - cumprod);
            PosteriorMeanCoef2[i] = (1.0 - AlphasCumprodPrev[i]) * Math.Sqrt(Alphas[i]) / (1.0 - cumprod);
        }
        for (int i = 0; i < n; i++)
            PosteriorLogVarianceClipped[i] = Math.Log(i == 0 ? (n > 1 ? PosteriorVariance[1] : Betas[0]) : PosteriorVariance[i]);
    }

    /// <summary>The spec this schedule was computed from.</summary>
    public ScheduleSpec Spec => new(Kind, T, BetaStart, BetaEnd, CosineS);

    /// <summary>The parameters that, with <see cref="Kind"/> and <see cref="T"/>, rebuild this schedule (metadata's schedule_params: <see cref="ScheduleSpec.MetadataParameters"/>).</summary>
    public IReadOnlyDictionary<string, double> Parameters => Spec.MetadataParameters;

    /// <summary>Lower-case schedule name as used in configs and metadata.</summary>
    public static string Name(NoiseScheduleKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>Parses "linear", "cosine" or "quadratic" (case-insensitive).</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static NoiseScheduleKind ParseKind(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "linear" => NoiseScheduleKind.Linear,
        "cosine" => NoiseScheduleKind.Cosine,
        "quadratic" => NoiseScheduleKind.Quadratic,
        _ => throw new InvalidInputException($"Unknown noise schedule '{value}'; expected linear, cosine or quadratic."),
    };

    // Ho et al. 2020, sec. 4: linear from 1e-4 to 0.02 at T = 1000; scaled by 1000 / T as in improved-diffusion
    // so that any T spans a comparable range of signal-to-noise ratios.
    private static double[] LinearBetas(int n, double start, double end)
    {
        double scale = 1000.0 / n, b0 = scale * start, b1 = Math.Min(scale * end, DefaultMaxBeta);
        var betas = new double[n];
        for (int i = 0; i < n; i++) betas[i] = n == 1 ? b0 : b0 + (b1 - b0) * i / (n - 1);
        return betas;
    }

    // sqrt(beta) evenly spaced, then squared (diffusers "scaled_linear"), with the same 1000 / T scaling.
    private static double[] QuadraticBetas(int n, double start, double end)
    {
        double scale = 1000.0 / n, r0 = Math.Sqrt(scale * start), r1 = Math.Sqrt(Math.Min(scale * end, DefaultMaxBeta));
        var betas = new double[n];
        for (int i = 0; i < n; i++)
        {
            double r = n == 1 ? r0 : r0 + (r1 - r0) * i / (n - 1);
            betas[i] = r * r;
        }
        return betas;
    }

    // Nichol & Dhariwal 2021, eq. 17: beta_t = min(1 - alpha_bar(t) / alpha_bar(t - 1), max_beta),
    // with alpha_bar(t) = cos^2(((t / T + s) / (1 + s)) * pi / 2) (the f(0) normalisation cancels in the ratio).
    private static double[] CosineBetas(int n, double s, double maxBeta)
    {
        static double F(double u, double s) { double c = Math.Cos((u + s) / (1 + s) * Math.PI / 2); return c * c; }
        var betas = new double[n];
        for (int i = 0; i < n; i++)
            betas[i] = Math.Min(1.0 - F((i + 1.0) / n, s) / F((double)i / n, s), maxBeta);
        return betas;
    }
}

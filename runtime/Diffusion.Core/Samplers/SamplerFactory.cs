namespace Diffusion.Runtime.Samplers;

/// <summary>Creates samplers by kind, and names / parses kinds as the command line writes them.</summary>
public static class SamplerFactory
{
    /// <summary>
    /// A new sampler of <paramref name="kind"/> for a model trained with <paramref name="schedule"/> and predicting
    /// <paramref name="prediction"/>. <see cref="ISampler.SetTimesteps"/> must still be called.
    /// </summary>
    /// <exception cref="InvalidInputException">Invalid options (e.g. eta for a sampler other than DDIM).</exception>
    public static ISampler Create(SamplerKind kind, NoiseSchedule schedule, PredictionType prediction, SamplerOptions? options = null)
    {
        options ??= SamplerOptions.Default;
        return kind switch
        {
            SamplerKind.Ddpm => new DdpmSampler(schedule, prediction, options),
            SamplerKind.Ddim => new DdimSampler(schedule, prediction, options),
            SamplerKind.DpmSolverPlusPlus => new DpmSolverPlusPlusSampler(schedule, prediction, options),
            _ => throw new InvalidInputException($"Unknown sampler {kind}; expected ddpm, ddim or dpm++."),
        };
    }

    /// <summary>Command-line name: "ddpm", "ddim" or "dpm++".</summary>
    public static string Name(SamplerKind kind) => kind switch
    {
        SamplerKind.Ddpm => "ddpm",
        SamplerKind.Ddim => "ddim",
        SamplerKind.DpmSolverPlusPlus => "dpm++",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Parses "ddpm", "ddim" or "dpm++" (also "dpmpp", "dpm-solver++"), case-insensitive.</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static SamplerKind Parse(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "ddpm" => SamplerKind.Ddpm,
        "ddim" => SamplerKind.Ddim,
        "dpm++" or "dpmpp" or "dpm-solver++" or "dpmsolver++" => SamplerKind.DpmSolverPlusPlus,
        _ => throw new InvalidInputException($"Unknown sampler '{value}'; expected ddpm, ddim or dpm++."),
    };
}

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
            SamplerKind.DpmSolverPlusPlus3M => new DpmSolverPlusPlusSampler(schedule, prediction, options, order: 3),
            _ => throw new InvalidInputException($"Unknown sampler {kind}; expected {Names}."),
        };
    }

    /// <summary>The command-line names, for help texts and messages.</summary>
    public const string Names = "ddpm, ddim, dpm++ or dpm++3m";

    /// <summary>Command-line name: "ddpm", "ddim", "dpm++" or "dpm++3m".</summary>
    public static string Name(SamplerKind kind) => kind switch
    {
        SamplerKind.Ddpm => "ddpm",
        SamplerKind.Ddim => "ddim",
        SamplerKind.DpmSolverPlusPlus => "dpm++",
        SamplerKind.DpmSolverPlusPlus3M => "dpm++3m",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Parses "ddpm", "ddim", "dpm++" (also "dpmpp", "dpm-solver++", "dpm++2m") or "dpm++3m" (also "dpmpp3m"), case-insensitive.</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static SamplerKind Parse(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "ddpm" => SamplerKind.Ddpm,
        "ddim" => SamplerKind.Ddim,
        "dpm++" or "dpmpp" or "dpm-solver++" or "dpmsolver++" or "dpm++2m" or "dpmpp2m" => SamplerKind.DpmSolverPlusPlus,
        "dpm++3m" or "dpmpp3m" or "dpm-solver++3m" => SamplerKind.DpmSolverPlusPlus3M,
        _ => throw new InvalidInputException($"Unknown sampler '{value}'; expected {Names}."),
    };
}

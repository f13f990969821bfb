namespace Diffusion.Runtime;

/// <summary>
/// A noise schedule as a value: the one record that a training config, a checkpoint and an exported model's metadata
/// all describe, and the one place that reads and writes its metadata form. Configs (and the config JSON inside
/// checkpoints) store it as the keys <c>schedule</c>, <c>timesteps</c>, <c>beta_start</c>, <c>beta_end</c>,
/// <c>cosine_s</c>; ONNX metadata as <c>diffusion.schedule</c>, <c>diffusion.timesteps</c> and
/// <c>diffusion.schedule_params</c> (<see cref="MetadataParameters"/>). Two records are equal exactly when they give
/// the same schedule: the parameters a kind does not use are held at their defaults.
/// </summary>
public sealed record ScheduleSpec
{
    /// <summary>A schedule of <paramref name="kind"/> over <paramref name="timesteps"/> steps (the unused parameters of the kind are set to their defaults).</summary>
    /// <param name="kind">Linear, cosine or quadratic.</param>
    /// <param name="timesteps">T.</param>
    /// <param name="betaStart">beta_1 of the linear / quadratic schedules.</param>
    /// <param name="betaEnd">beta_T of the linear / quadratic schedules.</param>
    /// <param name="cosineS">s offset of the cosine schedule.</param>
    public ScheduleSpec(NoiseScheduleKind kind, int timesteps, double betaStart = NoiseSchedule.DefaultBetaStart,
        double betaEnd = NoiseSchedule.DefaultBetaEnd, double cosineS = NoiseSchedule.DefaultCosineS)
    {
        bool cosine = kind == NoiseScheduleKind.Cosine;
        Kind = kind; Timesteps = timesteps;
        BetaStart = cosine ? NoiseSchedule.DefaultBetaStart : betaStart;
        BetaEnd = cosine ? NoiseSchedule.DefaultBetaEnd : betaEnd;
        CosineS = cosine ? cosineS : NoiseSchedule.DefaultCosineS;
    }

    /// <summary>Schedule family.</summary>
    public NoiseScheduleKind Kind { get; }
    /// <summary>Diffusion steps T.</summary>
    public int Timesteps { get; }
    /// <summary>beta_1 (linear, quadratic).</summary>
    public double BetaStart { get; }
    /// <summary>beta_T (linear, quadratic).</summary>
    public double BetaEnd { get; }
    /// <summary>s (cosine; beta is clipped at <see cref="NoiseSchedule.DefaultMaxBeta"/>).</summary>
    public double CosineS { get; }

    /// <summary>The schedule's arrays, computed once in float64.</summary>
    /// <exception cref="InvalidInputException">T below 1 or a parameter outside its range.</exception>
    public NoiseSchedule Create() => new(Kind, Timesteps, BetaStart, BetaEnd, CosineS);

    /// <summary>
    /// The metadata's <c>schedule_params</c>: <c>{"max_beta", "s"}</c> for the cosine schedule, <c>{"beta_end",
    /// "beta_start"}</c> for the others, sorted by key.
    /// </summary>
    public IReadOnlyDictionary<string, double> MetadataParameters => Kind == NoiseScheduleKind.Cosine
        ? new SortedDictionary<string, double>(StringComparer.Ordinal) { [CosineSKey] = CosineS, [MaxBetaKey] = NoiseSchedule.DefaultMaxBeta }
        : new SortedDictionary<string, double>(StringComparer.Ordinal) { [BetaStartKey] = BetaStart, [BetaEndKey] = BetaEnd };

    /// <summary>The spec of metadata's schedule kind, T and <c>schedule_params</c>; absent parameters take their defaults.</summary>
    public static ScheduleSpec FromMetadata(NoiseScheduleKind kind, int timesteps, IReadOnlyDictionary<string, double> parameters)
    {
        double Get(string k, double d) => parameters.TryGetValue(k, out var v) ? v : d;
        return new ScheduleSpec(kind, timesteps, Get(BetaStartKey, NoiseSchedule.DefaultBetaStart), Get(BetaEndKey, NoiseSchedule.DefaultBetaEnd),
            Get(CosineSKey, NoiseSchedule.DefaultCosineS));
    }

    private const string BetaStartKey = "beta_start", BetaEndKey = "beta_end", CosineSKey = "s", MaxBetaKey = "max_beta";

    /// <inheritdoc/>
    public override string ToString() => Kind == NoiseScheduleKind.Cosine
        ? $"{NoiseSchedule.Name(Kind)}, T = {Timesteps}, s = {CosineS}"
        : $"{NoiseSchedule.Name(Kind)}, T = {Timesteps}, beta {BetaStart} to {BetaEnd}";
}

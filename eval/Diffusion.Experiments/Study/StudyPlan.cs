using Diffusion.Experiments.Budget;

namespace Diffusion.Experiments.Study;

/// <summary>
/// The plan of a study, saved as <c>plan.json</c> in its folder before the first run trains. A later invocation on
/// the same folder continues with this plan (same factor, same measurements), so an interrupted study ends as if it
/// had run at once; it must use the same matrix, budget, runs and evaluation settings.
/// </summary>
public sealed record StudyPlan
{
    /// <summary>File name in the study folder.</summary>
    public const string FileName = "plan.json";

    /// <summary>SHA-256 of the matrix file.</summary>
    public string MatrixSha256 { get; init; } = "";
    /// <summary>The budget in minutes, or null.</summary>
    public double? BudgetMinutes { get; init; }
    /// <summary>Images per class of the metric set.</summary>
    public int PerClass { get; init; }
    /// <summary>The runs planned, in order.</summary>
    public string[] Runs { get; init; } = [];
    /// <summary>CPU threads.</summary>
    public int Threads { get; init; }
    /// <summary>Measured throughput per (model, batch size).</summary>
    public IReadOnlyList<Throughput> Throughput { get; init; } = [];
    /// <summary>Seconds spent measuring the throughput.</summary>
    public double MeasureSeconds { get; init; }
    /// <summary>Seconds spent scoring the real data (before planning).</summary>
    public double RealReferenceSeconds { get; init; }
    /// <summary>The budget plan.</summary>
    public BudgetPlan Budget { get; init; } = new(1, null, 0, 0, []);
    /// <summary>UTC time the plan was made.</summary>
    public string CreatedUtc { get; init; } = "";

    /// <summary>Why <paramref name="other"/> cannot continue this plan, or null when it can.</summary>
    public string? Mismatch(StudyPlan other)
    {
        if (other.MatrixSha256 != MatrixSha256) return "the matrix file changed";
        if (other.BudgetMinutes != BudgetMinutes) return $"the budget differs ({Minutes(BudgetMinutes)} then, {Minutes(other.BudgetMinutes)} now)";
        if (other.PerClass != PerClass) return $"--per-class differs ({PerClass} then, {other.PerClass} now)";
        if (!other.Runs.SequenceEqual(Runs)) return $"the runs differ ({string.Join(",", Runs)} then, {string.Join(",", other.Runs)} now)";
        return null;
    }

    private static string Minutes(double? m) => m is double v ? FormattableString.Invariant($"{v:0.##} min") : "no budget";
}

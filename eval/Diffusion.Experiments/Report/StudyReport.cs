using Diffusion.Experiments.Budget;
using Diffusion.Experiments.Matrix;
using Diffusion.Experiments.Study;

namespace Diffusion.Experiments.Report;

/// <summary>The real data every run is compared with.</summary>
public sealed record RealSummary
{
    /// <summary>Test images scored.</summary>
    public int TestCount { get; init; }
    /// <summary>Main judge accuracy on the test set.</summary>
    public double Accuracy { get; init; }
    /// <summary>LightGBM accuracy on the test set (null without that judge).</summary>
    public double? LightGbmAccuracy { get; init; }
    /// <summary>Frechet distance of the real training sample to the test set.</summary>
    public double FrechetFloor { get; init; }
    /// <summary>The same for a class-balanced training sample the size of a run's metric set.</summary>
    public double FrechetFloorSameSize { get; init; }
    /// <summary>Mean intra-class diversity of the test set.</summary>
    public double DiversityMean { get; init; }
}

/// <summary>A run that did not finish (e.g. its training diverged); the study went on without it.</summary>
/// <param name="Name">Run name.</param>
/// <param name="Change">Its change from the baseline.</param>
/// <param name="Error">What went wrong.</param>
public sealed record FailedRun(string Name, string Change, string Error);

/// <summary>Everything the study measured (<c>report.json</c>); <c>report.md</c> is rendered from it.</summary>
public sealed record StudyReport
{
    /// <summary>UTC time the report was written.</summary>
    public string CreatedUtc { get; init; } = "";
    /// <summary>The command line.</summary>
    public string Command { get; init; } = "";
    /// <summary>The machine.</summary>
    public string Machine { get; init; } = "";
    /// <summary>Matrix file.</summary>
    public string Matrix { get; init; } = "";
    /// <summary>SHA-256 of the matrix file.</summary>
    public string MatrixSha256 { get; init; } = "";
    /// <summary>The matrix's description.</summary>
    public string? Description { get; init; }
    /// <summary>CPU threads.</summary>
    public int Threads { get; init; }
    /// <summary>Judge folder.</summary>
    public string Judges { get; init; } = "";
    /// <summary>The plan: budget, factor, throughput, estimates.</summary>
    public StudyPlan Plan { get; init; } = new();
    /// <summary>Wall seconds of this invocation (runs read back from the folder cost nothing here).</summary>
    public double Seconds { get; init; }
    /// <summary>Runs read back from an earlier invocation.</summary>
    public string[] ReusedRuns { get; init; } = [];
    /// <summary>Runs that failed in this invocation (run the command again to retry them).</summary>
    public FailedRun[] FailedRuns { get; init; } = [];
    /// <summary>Evaluation settings.</summary>
    public EvaluationSettings Evaluation { get; init; } = new();
    /// <summary>The real data.</summary>
    public RealSummary Real { get; init; } = new();
    /// <summary>Every run, the baseline first.</summary>
    public IReadOnlyList<RunResult> Runs { get; init; } = [];
    /// <summary>The generated findings.</summary>
    public IReadOnlyList<string> Findings { get; init; } = [];
    /// <summary>Files of the report folder.</summary>
    public List<string> Files { get; init; } = [];
}

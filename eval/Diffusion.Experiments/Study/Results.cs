using Diffusion.Experiments.Budget;
using Diffusion.Train.Training;

namespace Diffusion.Experiments.Study;

/// <summary>The eval metrics of one run at the default sampler.</summary>
public sealed record RunMetrics
{
    /// <summary>Sampling setting of the metric set.</summary>
    public string Setting { get; init; } = "";
    /// <summary>Images in the metric set.</summary>
    public int Count { get; init; }
    /// <summary>Main (CNN through ML.NET) judge accuracy, 0-1.</summary>
    public double Accuracy { get; init; }
    /// <summary>Binomial standard error of <see cref="Accuracy"/> (with one success and one failure added, so never 0).</summary>
    public double AccuracySe { get; init; }
    /// <summary>Main judge accuracy per class.</summary>
    public double[] PerClassAccuracy { get; init; } = [];
    /// <summary>LightGBM judge accuracy, or null without that judge.</summary>
    public double? LightGbmAccuracy { get; init; }
    /// <summary>Fraction of images both judges assign to the requested class.</summary>
    public double? BothJudgesAccuracy { get; init; }
    /// <summary>Frechet distance to the test set in the main judge's feature space.</summary>
    public double FrechetDistance { get; init; }
    /// <summary>Bootstrap standard error of <see cref="FrechetDistance"/> (images resampled with replacement).</summary>
    public double FrechetSe { get; init; }
    /// <summary>The same distance for a class-balanced real training sample of the same size (the floor).</summary>
    public double FrechetFloorSameSize { get; init; }
    /// <summary>Mean intra-class diversity (mean pairwise judge-feature distance).</summary>
    public double DiversityMean { get; init; }
    /// <summary>Wall seconds of generating the metric set.</summary>
    public double GenerationSeconds { get; init; }
}

/// <summary>What a run actually cost.</summary>
public sealed record ActualCost
{
    /// <summary>Epochs trained.</summary>
    public int Epochs { get; init; }
    /// <summary>Optimizer steps.</summary>
    public long Steps { get; init; }
    /// <summary>Training images seen (from log.jsonl: images/s x seconds per epoch).</summary>
    public long ImagesSeen { get; init; }
    /// <summary>Wall seconds of the training steps (log.jsonl; sampling and checkpoints excluded).</summary>
    public double TrainSeconds { get; init; }
    /// <summary>Process CPU seconds of the training steps (log.jsonl).</summary>
    public double TrainCpuSeconds { get; init; }
    /// <summary>Wall seconds from the end of training to the result: export, metric set, judging, sample grids.</summary>
    public double EvalSeconds { get; init; }
}

/// <summary>A point of a (smoothed) loss curve.</summary>
/// <param name="Images">Training images seen.</param>
/// <param name="Loss">Mean batch loss of the window ending there.</param>
public sealed record LossPoint(long Images, double Loss);

/// <summary>The comparison-grid samples of a run: an IDX file of [scales x digits x per cell] images.</summary>
public sealed record SampleSet
{
    /// <summary>IDX images file, relative to the run folder: scale-major, then digit, then image.</summary>
    public string File { get; init; } = "";
    /// <summary>Digits, in order.</summary>
    public int[] Digits { get; init; } = [];
    /// <summary>Guidance scales, in order.</summary>
    public float[] Scales { get; init; } = [];
    /// <summary>Images per (digit, scale).</summary>
    public int PerCell { get; init; }
    /// <summary>Noise seed (image i of digit block j has sample index j x per cell + i, at every scale and in every run).</summary>
    public ulong Seed { get; init; }
}

/// <summary>Everything about one run (written to <c>runs/&lt;name&gt;/result.json</c> when the run is complete).</summary>
public sealed record RunResult
{
    /// <summary>Run name.</summary>
    public string Name { get; init; } = "";
    /// <summary>Factor it varies ("baseline" for the baseline).</summary>
    public string Factor { get; init; } = "";
    /// <summary>Change from the baseline.</summary>
    public string Change { get; init; } = "";
    /// <summary>Model architecture.</summary>
    public string Architecture { get; init; } = "";
    /// <summary>Trainable parameters.</summary>
    public long Parameters { get; init; }
    /// <summary>Training length asked for by the matrix, in epochs.</summary>
    public double MatrixEpochs { get; init; }
    /// <summary>The plan (budget allocation and estimates).</summary>
    public RunAllocation Plan { get; init; } = new("", 0, 0, 0, 0, 0, 0);
    /// <summary>Warmup steps trained with (scaled with the training length).</summary>
    public int WarmupSteps { get; init; }
    /// <summary>What the run cost.</summary>
    public ActualCost Cost { get; init; } = new();
    /// <summary>Per-epoch records of the trainer (log.jsonl).</summary>
    public IReadOnlyList<EpochRecord> Epochs { get; init; } = [];
    /// <summary>The per-step loss, averaged over windows (at most about 200 points).</summary>
    public IReadOnlyList<LossPoint> LossCurve { get; init; } = [];
    /// <summary>Eval metrics.</summary>
    public RunMetrics Metrics { get; init; } = new();
    /// <summary>Comparison-grid samples.</summary>
    public SampleSet Samples { get; init; } = new();
}

using System.Globalization;
using Diffusion.Runtime;

namespace Diffusion.Experiments.Budget;

/// <summary>What a run costs, as estimated before the study starts.</summary>
/// <param name="Name">Run name.</param>
/// <param name="Epochs">Training length the matrix asks for, in epochs (may be fractional).</param>
/// <param name="BatchSize">Images per optimizer step.</param>
/// <param name="DatasetSize">Training images available (one epoch).</param>
/// <param name="ImagesPerSecond">Measured training throughput of the run's model at its batch size.</param>
/// <param name="EvalSeconds">Estimated seconds of everything after training: export, sampling, judging.</param>
public sealed record RunCost(string Name, double Epochs, int BatchSize, int DatasetSize, double ImagesPerSecond, double EvalSeconds);

/// <summary>How long one run trains.</summary>
/// <param name="Name">Run name.</param>
/// <param name="Epochs">Epochs to train (the trainer's <c>epochs</c>).</param>
/// <param name="MaxTrainImages">Images per epoch when less than the full set (the trainer's <c>max_train_images</c>; 0 = all).</param>
/// <param name="ImagesSeen">Training images the run will see: epochs x images per epoch.</param>
/// <param name="Fraction">ImagesSeen over what the matrix asks for (epochs x dataset size); 1 without scaling.</param>
/// <param name="TrainSeconds">Estimated training seconds (images seen / measured images per second).</param>
/// <param name="EvalSeconds">Estimated evaluation seconds.</param>
public sealed record RunAllocation(string Name, int Epochs, int MaxTrainImages, long ImagesSeen, double Fraction, double TrainSeconds, double EvalSeconds);

/// <summary>The training length of every run and the estimate of the whole study.</summary>
/// <param name="Factor">The common factor f applied to every run's epochs (1 without a budget).</param>
/// <param name="BudgetSeconds">The budget, or null for none.</param>
/// <param name="FixedSeconds">Seconds counted outside the runs (measurements already done, the real-data reference, the report).</param>
/// <param name="EstimatedSeconds">Estimated seconds of the whole study: fixed plus every run's training and evaluation.</param>
/// <param name="Runs">One allocation per run, in the order given.</param>
public sealed record BudgetPlan(double Factor, double? BudgetSeconds, double FixedSeconds, double EstimatedSeconds, IReadOnlyList<RunAllocation> Runs);

/// <summary>
/// Scales every run's training length by one common factor f so the whole study fits a wall-time budget.
/// Each run's training seconds are its images seen over its measured images/s; evaluation and fixed costs are
/// reserved first, so f = (budget - fixed - sum eval) / sum(epochs x N / images per s), at most 1 (a budget never
/// lengthens the matrix). f is applied as images seen: if f x epochs &gt;= 1 the run trains round(f x epochs)
/// epochs of the full set, else one epoch over the first floor(f x epochs x N / batch) x batch images (at least one
/// batch). When rounding pushes the total over the budget, f shrinks by 2% until it fits. Scaling keeps the
/// order of the runs' lengths (a run asked to train longer never trains less).
/// </summary>
public static class BudgetPlanner
{
    /// <summary>Plans the runs; <paramref name="budgetSeconds"/> null runs the matrix as written (f = 1).</summary>
    /// <param name="runs">The runs' costs.</param>
    /// <param name="budgetSeconds">Wall-time budget of the whole study, or null.</param>
    /// <param name="fixedSeconds">Seconds counted outside the runs.</param>
    /// <param name="budgetName">Names the budget in messages (the command-line option).</param>
    /// <exception cref="InvalidInputException">The budget cannot hold the evaluation and one batch of training per run.</exception>
    public static BudgetPlan Plan(IReadOnlyList<RunCost> runs, double? budgetSeconds, double fixedSeconds, string budgetName = "--budget-minutes")
    {
        if (runs.Count == 0) throw new ArgumentException("No runs to plan.", nameof(runs));
        foreach (var r in runs)
            if (!(r.Epochs > 0) || r.BatchSize < 1 || r.DatasetSize < 1 || !(r.ImagesPerSecond > 0) || !(r.EvalSeconds >= 0))
                throw new ArgumentException($"Run '{r.Name}': epochs, batch, dataset size and images/s must be positive.", nameof(runs));
        if (budgetSeconds is not double budget) return Build(1, null, fixedSeconds, runs);
        if (!(budget > 0) || !double.IsFinite(budget)) throw new InvalidInputException($"{budgetName}: {Minutes(budget)}; expected a number of minutes > 0.");

        double reserved = fixedSeconds + runs.Sum(r => r.EvalSeconds);
        var minimal = Build(0, budget, fixedSeconds, runs);
        if (minimal.EstimatedSeconds > budget)
            throw new InvalidInputException(string.Create(CultureInfo.InvariantCulture,
                $"{budgetName} {Minutes(budget)}: too short. Measuring, evaluating and one training batch per run are estimated at {minimal.EstimatedSeconds / 60:F1} min " +
                $"({reserved / 60:F1} min of it outside training); give at least {Math.Ceiling(minimal.EstimatedSeconds / 60)} minutes, or fewer runs (--only)."));
        double full = runs.Sum(r => r.Epochs * r.DatasetSize / r.ImagesPerSecond);
        double f = Math.Min(1, (budget - reserved) / full);
        var plan = Build(f, budget, fixedSeconds, runs);
        for (int i = 0; i < 500 && plan.EstimatedSeconds > budget; i++)
            plan = Build(f *= 0.98, budget, fixedSeconds, runs);
        return plan.EstimatedSeconds <= budget ? plan : minimal;
    }

    /// <summary>The allocation of one run at factor <paramref name="f"/> (the rule in the class summary).</summary>
    public static (int Epochs, int MaxTrainImages, long ImagesSeen) Apply(double f, double epochs, int batchSize, int datasetSize)
    {
        double x = f * epochs;
        if (x >= 1)
        {
            int e = (int)Math.Round(x, MidpointRounding.AwayFromZero);
            return (e, 0, (long)e * datasetSize);
        }
        long images = (long)Math.Floor(x * datasetSize / batchSize) * batchSize;
        images = Math.Clamp(images, Math.Min(batchSize, datasetSize), datasetSize);
        return (1, images >= datasetSize ? 0 : (int)images, images);
    }

    private static BudgetPlan Build(double f, double? budget, double fixedSeconds, IReadOnlyList<RunCost> runs)
    {
        var allocations = runs.Select(r =>
        {
            var (epochs, max, seen) = Apply(f, r.Epochs, r.BatchSize, r.DatasetSize);
            return new RunAllocation(r.Name, epochs, max, seen, seen / (r.Epochs * r.DatasetSize), seen / r.ImagesPerSecond, r.EvalSeconds);
        }).ToArray();
        return new BudgetPlan(f, budget, fixedSeconds, fixedSeconds + allocations.Sum(a => a.TrainSeconds + a.EvalSeconds), allocations);
    }

    private static string Minutes(double seconds) => (seconds / 60).ToString("0.##", CultureInfo.InvariantCulture);
}

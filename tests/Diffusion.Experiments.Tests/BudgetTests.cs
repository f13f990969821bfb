using Diffusion.Experiments.Budget;
using Diffusion.Runtime;

namespace Diffusion.Experiments.Tests;

public class BudgetTests
{
    private const int N = 60_000;

    /// <summary>The shape of the real matrix: epochs x0.5 / x1 / x2, a fast small model, a slow large one, batch 64.</summary>
    private static RunCost[] Matrix() =>
    [
        new("baseline", 4, 128, N, 40, 60),
        new("short", 2, 128, N, 40, 60),
        new("long", 8, 128, N, 40, 60),
        new("small", 4, 128, N, 120, 30),
        new("large", 4, 128, N, 8, 200),
        new("batch-64", 4, 64, N, 35, 60),
    ];

    [Theory]
    [InlineData(15)]
    [InlineData(30)]
    [InlineData(55)]
    [InlineData(120)]
    [InlineData(600)]
    [InlineData(3000)]
    public void The_plan_fits_the_budget_and_keeps_shorter_below_baseline_below_longer(double minutes)
    {
        var runs = Matrix();
        var plan = BudgetPlanner.Plan(runs, minutes * 60, fixedSeconds: 120);
        Assert.True(plan.EstimatedSeconds <= minutes * 60, $"estimated {plan.EstimatedSeconds:F0} s for a budget of {minutes * 60} s");
        Assert.InRange(plan.Factor, 1e-9, 1);
        var seen = plan.Runs.ToDictionary(a => a.Name, a => a.ImagesSeen);
        Assert.True(seen["short"] < seen["baseline"] && seen["baseline"] < seen["long"], $"short {seen["short"]}, baseline {seen["baseline"]}, long {seen["long"]}");
        // the estimate is the sum of its parts
        Assert.Equal(120 + plan.Runs.Sum(a => a.TrainSeconds + a.EvalSeconds), plan.EstimatedSeconds, 6);
        foreach (var (a, r) in plan.Runs.Zip(runs)) Assert.Equal(a.ImagesSeen / r.ImagesPerSecond, a.TrainSeconds, 6);
    }

    [Fact]
    public void When_rounding_up_would_overrun_the_factor_shrinks_until_the_plan_fits()
    {
        // f = 960 / 2400 = 0.4 asks for 1.6 epochs, which rounds to 2 (1,200 s): the plan must fall back to 1 epoch
        var plan = BudgetPlanner.Plan([new RunCost("only", 4, 100, N, 100, 0)], 960, 0);
        Assert.True(plan.EstimatedSeconds <= 960, $"estimated {plan.EstimatedSeconds} s");
        Assert.Equal(1, plan.Runs[0].Epochs);
        Assert.True(plan.Factor < 0.4);
    }

    [Fact]
    public void A_budget_uses_most_of_itself_when_it_has_to_scale()
    {
        var plan = BudgetPlanner.Plan(Matrix(), 55 * 60, fixedSeconds: 120);
        Assert.True(plan.Factor < 1);
        Assert.True(plan.EstimatedSeconds > 0.8 * 55 * 60, $"estimated {plan.EstimatedSeconds:F0} s of {55 * 60} s");
    }

    [Fact]
    public void Below_one_epoch_a_run_trains_one_epoch_over_a_multiple_of_the_batch()
    {
        var (epochs, max, seen) = BudgetPlanner.Apply(0.05, 4, 128, N); // 0.2 epoch = 12,000 images
        Assert.Equal(1, epochs);
        Assert.Equal(0, max % 128);
        Assert.Equal(11_904, max); // floor(12,000 / 128) * 128
        Assert.Equal(max, seen);
        // at least one batch, never more than the set
        Assert.Equal((1, 128, 128L), BudgetPlanner.Apply(1e-9, 4, 128, N));
        Assert.Equal((1, 0, 100L), BudgetPlanner.Apply(0.5, 1, 128, 100));
    }

    [Fact]
    public void From_one_epoch_on_a_run_trains_whole_epochs_rounded()
    {
        Assert.Equal((1, 0, (long)N), BudgetPlanner.Apply(0.25, 4, 128, N));
        Assert.Equal((2, 0, 2L * N), BudgetPlanner.Apply(0.375, 4, 128, N)); // 1.5 rounds away from zero
        Assert.Equal((6, 0, 6L * N), BudgetPlanner.Apply(0.7, 8, 128, N)); // 5.6
    }

    [Fact]
    public void Without_a_budget_the_matrix_runs_as_written_and_a_generous_budget_never_lengthens_it()
    {
        var none = BudgetPlanner.Plan(Matrix(), null, 0);
        Assert.Equal(1, none.Factor);
        Assert.Equal([4, 2, 8, 4, 4, 4], none.Runs.Select(a => a.Epochs));
        Assert.All(none.Runs, a => Assert.Equal(0, a.MaxTrainImages));
        var huge = BudgetPlanner.Plan(Matrix(), 1e7, 0);
        Assert.Equal(1, huge.Factor);
        Assert.Equal(none.Runs.Select(a => a.ImagesSeen), huge.Runs.Select(a => a.ImagesSeen));
        // a fractional matrix length (epochs_scale) follows the same rule at f = 1
        Assert.Equal((1, 29_952, 29_952L), BudgetPlanner.Apply(1, 0.5, 128, N));
    }

    [Fact]
    public void A_budget_too_small_for_evaluation_says_so_and_names_the_option()
    {
        var e = Assert.Throws<InvalidInputException>(() => BudgetPlanner.Plan(Matrix(), 5 * 60, fixedSeconds: 120));
        Assert.Contains("--budget-minutes", e.Message);
        Assert.Contains("at least", e.Message);
        Assert.Throws<InvalidInputException>(() => BudgetPlanner.Plan(Matrix(), 0, 0));
        Assert.Throws<InvalidInputException>(() => BudgetPlanner.Plan(Matrix(), -3, 0));
    }
}

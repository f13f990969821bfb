using Diffusion.Experiments.Report;
using Diffusion.Experiments.Study;

namespace Diffusion.Experiments.Tests;

public class FindingsTests
{
    private static FindingRow Row(string name, string factor, double acc, double fd, double cpu, int n = 500)
        => new(name, factor, factor == "baseline" ? "" : $"{factor} changed", acc, Stats.AccuracySe((int)Math.Round(acc * n), n), fd, 0.5, cpu / 2, cpu);

    [Fact]
    public void A_big_difference_is_named_and_one_within_noise_is_not_claimed()
    {
        var baseline = Row("baseline", "baseline", 0.90, 10, 100);
        var big = Row("small", "model size", 0.70, 25, 40);       // -20 points, +15 distance: far beyond noise
        var tiny = Row("lr-5e-4", "learning rate", 0.905, 10.3, 101); // +0.5 points, +0.3 distance: within noise
        var lines = Findings.Generate(baseline, [big, tiny]);

        string smallLine = lines.Single(l => l.StartsWith("`small`", StringComparison.Ordinal));
        Assert.Contains("-20.0 points", smallLine);
        Assert.Contains("lower than the baseline beyond noise", smallLine);
        Assert.Contains("further from the real data", smallLine);

        string lrLine = lines.Single(l => l.StartsWith("`lr-5e-4`", StringComparison.Ordinal));
        Assert.Contains("+0.5 points", lrLine);
        Assert.Contains("no difference shown", lrLine);
        Assert.DoesNotContain("beyond noise", lrLine.Replace("no difference shown", "", StringComparison.Ordinal));

        string accuracy = lines.Single(l => l.StartsWith("Accuracy:", StringComparison.Ordinal));
        Assert.Contains("`small` (model size) moved it most, -20.0 points", accuracy);
        Assert.DoesNotContain("lr-5e-4", accuracy);
        string distance = lines.Single(l => l.StartsWith("Frechet distance:", StringComparison.Ordinal));
        Assert.Contains("`small`", distance);
        string cost = lines.Single(l => l.StartsWith("Cost:", StringComparison.Ordinal));
        Assert.Contains("`small` (model size) moved training cost most, 0.40x", cost);
    }

    [Fact]
    public void When_nothing_moves_beyond_noise_no_variation_is_credited()
    {
        var baseline = Row("baseline", "baseline", 0.80, 10, 100, n: 100);
        var lines = Findings.Generate(baseline, [Row("a", "f1", 0.82, 10.4, 100, n: 100), Row("b", "f2", 0.79, 9.8, 100, n: 100)]);
        Assert.StartsWith("Accuracy: no variation moved it beyond noise; the largest difference, `a` (f1), was +2.0 points", lines.Single(l => l.StartsWith("Accuracy:", StringComparison.Ordinal)));
        Assert.StartsWith("Frechet distance: no variation moved it beyond noise", lines.Single(l => l.StartsWith("Frechet", StringComparison.Ordinal)));
        Assert.DoesNotContain(lines, l => l.Contains("higher than the baseline", StringComparison.Ordinal) || l.Contains("closer to", StringComparison.Ordinal));
    }

    [Fact]
    public void The_noise_level_follows_the_sample_size()
    {
        // the same 6-point difference is noise at 50 images and a change at 5,000
        var few = Findings.Compare(Row("b", "baseline", 0.80, 10, 1, n: 50), Row("v", "f", 0.86, 10, 1, n: 50));
        var many = Findings.Compare(Row("b", "baseline", 0.80, 10, 1, n: 5000), Row("v", "f", 0.86, 10, 1, n: 5000));
        Assert.False(few.AccuracyMoved);
        Assert.True(many.AccuracyMoved);
        Assert.True(Stats.AccuracySe(50, 50) > 0); // a perfect score still has an error
    }

    [Fact]
    public void A_budget_below_one_is_stated_and_a_full_run_is_not()
    {
        var b = Row("baseline", "baseline", 0.9, 10, 100);
        var v = Row("v", "f", 0.9, 10, 100);
        Assert.Contains(Findings.Generate(b, [v], new BudgetScaling(0.05, 0.049, 0.051)), l => l.Contains("f = 0.05; rounded to whole epochs or batches, the runs trained 4.9% to 5.1% of the length", StringComparison.Ordinal));
        Assert.DoesNotContain(Findings.Generate(b, [v], new BudgetScaling(1, 1, 1)), l => l.Contains("of the length", StringComparison.Ordinal));
        Assert.DoesNotContain(Findings.Generate(b, [v]), l => l.Contains("of the length", StringComparison.Ordinal));
    }
}

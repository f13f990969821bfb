using System.Globalization;
using Diffusion.Experiments.Study;

namespace Diffusion.Experiments.Report;

/// <summary>How a budget scaled the runs.</summary>
/// <param name="Factor">The common factor f.</param>
/// <param name="MinShare">The smallest share of its matrix length a run trained (after rounding).</param>
/// <param name="MaxShare">The largest share.</param>
public sealed record BudgetScaling(double Factor, double MinShare, double MaxShare);

/// <summary>The numbers of one run that the findings compare.</summary>
/// <param name="Name">Run name.</param>
/// <param name="Factor">Factor it varies.</param>
/// <param name="Change">Change from the baseline.</param>
/// <param name="Accuracy">Main judge accuracy, 0-1.</param>
/// <param name="AccuracySe">Its standard error.</param>
/// <param name="Frechet">Frechet distance to the test set.</param>
/// <param name="FrechetSe">Its standard error.</param>
/// <param name="TrainSeconds">Training wall seconds.</param>
/// <param name="TrainCpuSeconds">Training CPU seconds.</param>
public sealed record FindingRow(string Name, string Factor, string Change, double Accuracy, double AccuracySe, double Frechet, double FrechetSe,
    double TrainSeconds, double TrainCpuSeconds)
{
    /// <summary>The row of a finished run.</summary>
    public static FindingRow From(RunResult r) => new(r.Name, r.Factor, r.Change, r.Metrics.Accuracy, r.Metrics.AccuracySe, r.Metrics.FrechetDistance,
        r.Metrics.FrechetSe, r.Cost.TrainSeconds, r.Cost.TrainCpuSeconds);
}

/// <summary>
/// The findings section, generated from the numbers: for every variation the measured difference from the baseline in
/// accuracy, Frechet distance and training cost, and which variation moved each most. A difference is called a change
/// only when it exceeds <c>z</c> standard errors of the difference (sqrt(se_a^2 + se_b^2); binomial for accuracy,
/// bootstrap for the distance); otherwise the sentence says the data show no difference.
/// </summary>
public static class Findings
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Markdown lines (each a complete sentence or two, without a list marker).</summary>
    /// <param name="baseline">The baseline run.</param>
    /// <param name="variations">The other runs.</param>
    /// <param name="budget">How the budget scaled the runs (null when the matrix ran as written).</param>
    /// <param name="z">Standard errors a difference must exceed to count.</param>
    public static IReadOnlyList<string> Generate(FindingRow baseline, IReadOnlyList<FindingRow> variations, BudgetScaling? budget = null, double z = 2)
    {
        var lines = new List<string>();
        if (budget is { } s && (s.Factor < 1 || s.MaxShare < 1))
            lines.Add(string.Create(Inv,
                $"The budget scaled every run by f = {s.Factor:0.####}; rounded to whole epochs or batches, the runs trained {Percent.Of(s.MinShare, 1)} to {Percent.Of(s.MaxShare, 1)} " +
                $"of the length the matrix asks for, so these differences describe that short training, not converged models."));
        if (variations.Count == 0)
        {
            lines.Add("Only the baseline ran: there is nothing to compare.");
            return lines;
        }
        var diffs = variations.Select(v => Compare(baseline, v, z)).ToArray();
        foreach (var d in diffs) lines.Add(d.Sentence);
        lines.Add(Summary("accuracy", diffs, d => d.Accuracy, d => d.AccuracyNoise, d => $"{Points(d.Accuracy)} points", "points", scale: 100));
        lines.Add(Summary("Frechet distance", diffs, d => d.Frechet, d => d.FrechetNoise, d => d.Frechet.ToString("+0.00;-0.00;0.00", Inv), "", scale: 1));
        var costliest = diffs.MaxBy(d => Math.Abs(Math.Log(Math.Max(d.CpuRatio, 1e-9))))!;
        lines.Add(string.Create(Inv,
            $"Cost: `{costliest.Row.Name}` ({costliest.Row.Factor}) moved training cost most, {costliest.CpuRatio:0.00}x the baseline's CPU time " +
            $"({costliest.Row.TrainCpuSeconds:F0} s against {baseline.TrainCpuSeconds:F0} s; wall time {costliest.WallRatio:0.00}x). " +
            $"Cheapest run: `{diffs.MinBy(d => d.CpuRatio)!.Row.Name}`, most expensive: `{diffs.MaxBy(d => d.CpuRatio)!.Row.Name}` " +
            $"(times measured once each, with no noise estimate)."));
        return lines;
    }

    /// <summary>A variation's differences from the baseline.</summary>
    /// <param name="Row">The variation.</param>
    /// <param name="Accuracy">Accuracy difference (variation minus baseline), 0-1.</param>
    /// <param name="AccuracyNoise">z standard errors of that difference.</param>
    /// <param name="Frechet">Frechet distance difference.</param>
    /// <param name="FrechetNoise">z standard errors of that difference.</param>
    /// <param name="CpuRatio">Training CPU time over the baseline's.</param>
    /// <param name="WallRatio">Training wall time over the baseline's.</param>
    /// <param name="Sentence">The finding about this variation.</param>
    public sealed record Difference(FindingRow Row, double Accuracy, double AccuracyNoise, double Frechet, double FrechetNoise, double CpuRatio, double WallRatio, string Sentence)
    {
        /// <summary>True when the accuracy difference exceeds its noise.</summary>
        public bool AccuracyMoved => Math.Abs(Accuracy) > AccuracyNoise;
        /// <summary>True when the distance difference exceeds its noise.</summary>
        public bool FrechetMoved => Math.Abs(Frechet) > FrechetNoise;
    }

    /// <summary>Compares one variation with the baseline.</summary>
    public static Difference Compare(FindingRow b, FindingRow v, double z = 2)
    {
        double da = v.Accuracy - b.Accuracy, na = z * Math.Sqrt(b.AccuracySe * b.AccuracySe + v.AccuracySe * v.AccuracySe);
        double df = v.Frechet - b.Frechet, nf = z * Math.Sqrt(b.FrechetSe * b.FrechetSe + v.FrechetSe * v.FrechetSe);
        double cpu = v.TrainCpuSeconds / Math.Max(b.TrainCpuSeconds, 1e-9), wall = v.TrainSeconds / Math.Max(b.TrainSeconds, 1e-9);
        string acc = Math.Abs(da) > na
            ? $"{(da > 0 ? "higher" : "lower")} than the baseline beyond noise"
            : "within noise, so no difference shown";
        string fd = Math.Abs(df) > nf
            ? $"{(df < 0 ? "closer to" : "further from")} the real data than the baseline beyond noise"
            : "within noise, so no difference shown";
        string sentence = string.Create(Inv,
            $"`{v.Name}` ({(v.Change.Length > 0 ? v.Change : v.Factor)}): judge accuracy {Percent.Of(v.Accuracy, 1)} against {Percent.Of(b.Accuracy, 1)}, {Points(da)} points, " +
            $"{acc} ({z:0.#} SE = {na * 100:F1} points); Frechet distance {v.Frechet:F2} against {b.Frechet:F2}, {df:+0.00;-0.00;0.00}, {fd} " +
            $"({z:0.#} SE = {nf:F2}); training CPU time {cpu:0.00}x the baseline's ({v.TrainCpuSeconds:F0} s against {b.TrainCpuSeconds:F0} s).");
        return new Difference(v, da, na, df, nf, cpu, wall, sentence);
    }

    private static string Summary(string metric, IReadOnlyList<Difference> diffs, Func<Difference, double> delta, Func<Difference, double> noise,
        Func<Difference, string> amount, string unit, double scale)
    {
        var moved = diffs.Where(d => Math.Abs(delta(d)) > noise(d)).ToArray();
        string title = char.ToUpperInvariant(metric[0]) + metric[1..];
        if (moved.Length == 0)
        {
            var largest = diffs.MaxBy(d => Math.Abs(delta(d)))!;
            return string.Create(Inv,
                $"{title}: no variation moved it beyond noise; the largest difference, `{largest.Row.Name}` ({largest.Row.Factor}), was {amount(largest)} " +
                $"against a noise level of {noise(largest) * scale:F2}{(unit.Length > 0 ? " " + unit : "")}.");
        }
        var top = moved.MaxBy(d => Math.Abs(delta(d)))!;
        string others = moved.Length == 1 ? "it was the only variation to move it beyond noise"
            : $"{moved.Length} of {diffs.Count} variations moved it beyond noise ({string.Join(", ", moved.Select(d => $"`{d.Row.Name}`"))})";
        return string.Create(Inv, $"{title}: `{top.Row.Name}` ({top.Row.Factor}) moved it most, {amount(top)}; {others}.");
    }

    private static string Points(double fraction) => (fraction * 100).ToString("+0.0;-0.0;0.0", Inv);
}

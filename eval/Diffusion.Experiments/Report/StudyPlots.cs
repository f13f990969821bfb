using Diffusion.Experiments.Study;
using Diffusion.Runtime;
using ScottPlot;
using Diffusion.Tools;

namespace Diffusion.Experiments.Report;

/// <summary>The study's ScottPlot figures, written atomically as PNG.</summary>
public static class StudyPlots
{
    /// <summary>Every run's smoothed per-step training loss against training images seen, one line per run.</summary>
    public static void LossCurves(string path, IReadOnlyList<RunResult> runs)
    {
        var plt = new Plot();
        var palette = new ScottPlot.Palettes.Category20();
        int i = 0;
        foreach (var r in runs.Where(r => r.LossCurve.Count > 0))
        {
            var line = plt.Add.Scatter(r.LossCurve.Select(p => (double)p.Images).ToArray(), r.LossCurve.Select(p => p.Loss).ToArray());
            line.LegendText = r.Name;
            line.Color = palette.GetColor(i++);
            line.LineWidth = r.Factor == Matrix.ExperimentMatrix.BaselineFactor ? 3 : 1.5f;
            line.MarkerSize = r.LossCurve.Count == 1 ? 8 : 0;
        }
        plt.Title("Training loss (per-step MSE, window means; v-prediction and other targets have their own scale)");
        plt.XLabel("training images seen");
        plt.YLabel("loss");
        plt.ShowLegend(Alignment.UpperRight);
        Save(path, plt.GetImageBytes(1000, 600, ImageFormat.Png));
    }

    /// <summary>
    /// Horizontal bars per run: main judge accuracy (with 2 SE whiskers and the real test data's accuracy) above the
    /// Frechet distance (with 2 SE whiskers and the same-size real-data floor).
    /// </summary>
    public static void MetricBars(string path, IReadOnlyList<RunResult> runs, double realAccuracy, double frechetFloor)
    {
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        Bars(multiplot.GetPlot(0), runs, r => r.Metrics.Accuracy * 100, r => 2 * r.Metrics.AccuracySe * 100,
            "Main judge accuracy (%), whiskers 2 SE", (realAccuracy * 100, "real test data"));
        Bars(multiplot.GetPlot(1), runs, r => r.Metrics.FrechetDistance, r => 2 * r.Metrics.FrechetSe,
            "Frechet distance to the test set (judge features), whiskers 2 SE", (frechetFloor, "real-data floor, same size"));
        Save(path, multiplot.Render(1000, Math.Max(500, 80 + 2 * 38 * runs.Count)).GetImageBytes(ImageFormat.Png));
    }

    private static void Bars(Plot plt, IReadOnlyList<RunResult> runs, Func<RunResult, double> value, Func<RunResult, double> error, string title, (double Value, string Label) reference)
    {
        var bars = runs.Select((r, i) => new Bar
        {
            Position = runs.Count - 1 - i, Value = value(r), Error = error(r),
            FillColor = r.Factor == Matrix.ExperimentMatrix.BaselineFactor ? Colors.DarkOrange : Colors.SteelBlue,
            Label = value(r).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture),
        }).ToArray();
        var plot = plt.Add.Bars(bars);
        plot.Horizontal = true;
        plt.Axes.Left.SetTicks(runs.Select((_, i) => (double)(runs.Count - 1 - i)).ToArray(), runs.Select(r => r.Name).ToArray());
        if (double.IsFinite(reference.Value))
        {
            var v = plt.Add.VerticalLine(reference.Value);
            v.LegendText = reference.Label;
            v.LinePattern = LinePattern.Dashed;
            v.Color = Colors.Gray;
            plt.ShowLegend(Alignment.LowerRight);
        }
        plt.Axes.Margins(left: 0);
        plt.Title(title);
    }

    private static void Save(string path, byte[] png) => AtomicFile.WriteAllBytes(path, png);
}

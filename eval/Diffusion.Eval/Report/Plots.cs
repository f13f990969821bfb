using Diffusion.Eval.Evaluation;
using Diffusion.Runtime;
using ScottPlot;
using Diffusion.Tools;

namespace Diffusion.Eval.Report;

/// <summary>PNG plots of the guidance sweep and the confusion matrix (ScottPlot), written atomically.</summary>
public static class Plots
{
    private const int Width = 800, Height = 500;

    /// <summary>A sweep metric against the guidance scale, one line per step count, with an optional reference line.</summary>
    /// <param name="path">PNG to write.</param>
    /// <param name="points">Sweep results.</param>
    /// <param name="metric">Value plotted.</param>
    /// <param name="title">Plot title.</param>
    /// <param name="yLabel">Y axis label.</param>
    /// <param name="reference">Horizontal reference line (value and legend), or null.</param>
    public static void SweepMetric(string path, IReadOnlyList<SweepPoint> points, Func<SweepPoint, double> metric,
        string title, string yLabel, (double Value, string Label)? reference = null)
    {
        var plt = new Plot();
        foreach (var group in points.GroupBy(p => p.Steps).OrderBy(g => g.Key))
        {
            var ordered = group.OrderBy(p => p.Scale).ToArray();
            var line = plt.Add.Scatter(ordered.Select(p => (double)p.Scale).ToArray(), ordered.Select(metric).ToArray());
            line.LegendText = $"{group.Key} steps";
            line.MarkerSize = 7;
            line.LineWidth = 2;
        }
        if (reference is { } r && double.IsFinite(r.Value))
        {
            var h = plt.Add.HorizontalLine(r.Value);
            h.LegendText = r.Label;
            h.LinePattern = LinePattern.Dashed;
            h.Color = Colors.Gray;
        }
        plt.Title(title);
        plt.XLabel("guidance scale (diffusers convention, 1 = conditional)");
        plt.YLabel(yLabel);
        plt.ShowLegend();
        Save(plt, path);
    }

    /// <summary>Confusion matrix heat map: rows = requested class, columns = judged class, cell = fraction of the row.</summary>
    public static void Confusion(string path, int[][] confusion, IReadOnlyList<string> classNames, string title)
    {
        int k = confusion.Length;
        var data = new double[k, k];
        for (int i = 0; i < k; i++)
        {
            double total = Math.Max(1, confusion[i].Sum());
            for (int j = 0; j < k; j++) data[i, j] = confusion[i][j] / total;
        }
        var plt = new Plot();
        var hm = plt.Add.Heatmap(data);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        plt.Add.ColorBar(hm);
        var ticks = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        var labels = classNames.ToArray();
        plt.Axes.Bottom.SetTicks(ticks, labels);
        plt.Axes.Left.SetTicks(ticks.Select(t => k - 1 - t).ToArray(), labels);
        plt.Title(title);
        plt.XLabel("judged class");
        plt.YLabel("requested class");
        Save(plt, path, 700, 600);
    }

    private static void Save(Plot plt, string path, int width = Width, int height = Height)
        => AtomicFile.WriteAllBytes(path, plt.GetImageBytes(width, height, ImageFormat.Png));
}

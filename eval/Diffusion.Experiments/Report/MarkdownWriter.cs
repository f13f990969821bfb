using Diffusion.Tools;
using System.Globalization;
using System.Text;
using Diffusion.Experiments.Study;

namespace Diffusion.Experiments.Report;

/// <summary>Renders <c>report.md</c> from a <see cref="StudyReport"/>: every number in it comes from the report.</summary>
public static class MarkdownWriter
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The Markdown text.</summary>
    public static string Render(StudyReport r)
    {
        var sb = new StringBuilder();
        var plan = r.Plan;
        var budget = plan.Budget;
        sb.Append(Inv, $"# Experiment study: {r.Description ?? r.Matrix}\n\n");
        sb.Append(Inv, $"One factor at a time around a baseline, from `{r.Matrix}` (sha256 `{r.MatrixSha256[..12]}`). Written {r.CreatedUtc} by\n\n```\n{r.Command}\n```\n\n");
        sb.Append(Inv, $"Machine: {r.Machine}; {r.Threads} threads (0 = all cores). Judges: `{r.Judges}`.\n\n");

        sb.Append("## Budget\n\n");
        if (budget.BudgetSeconds is double b)
            sb.Append(Inv, $"Budget **{b / 60:0.##} minutes**. Every run's training length was scaled by the common factor **f = {budget.Factor:0.####}** " +
                $"(applied as images seen and rounded to whole epochs or batches, so each run's share of its matrix length is in the runs table). Estimated study time {budget.EstimatedSeconds / 60:F1} min, of which " +
                $"{budget.FixedSeconds / 60:F1} min outside the runs (measuring {plan.MeasureSeconds:F0} s, scoring the real data {plan.RealReferenceSeconds:F0} s, the report).\n\n");
        else sb.Append(Inv, $"No budget: the matrix ran as written (f = 1). Estimated study time {budget.EstimatedSeconds / 60:F1} min.\n\n");
        sb.Append(Inv, $"This invocation took {r.Seconds / 60:F1} min");
        sb.Append(r.ReusedRuns.Length > 0 ? $"; {r.ReusedRuns.Length} run(s) were read back from this folder ({string.Join(", ", r.ReusedRuns.Select(n => $"`{n}`"))}) and cost nothing here.\n\n" : ".\n\n");
        sb.Append("Throughput measured at the start with the trainer's benchmark step (synthetic batches; network evaluations in eval mode, TorchSharp):\n\n");
        sb.Append("| model | batch | parameters | training images / s | training images / CPU-s | network evaluations / s | runs |\n|---|---:|---:|---:|---:|---:|---|\n");
        foreach (var t in plan.Throughput)
            sb.Append(Inv, $"| {t.Architecture} | {t.BatchSize} | {t.Parameters:N0} | {t.TrainImagesPerSecond:F1} | {t.TrainImagesPerCpuSecond:F1} | {t.InferenceImagesPerSecond:F0} | {string.Join(", ", t.Runs)} |\n");

        sb.Append("\n## Runs and cost\n\n");
        sb.Append("Images seen: planned from the matrix and the budget, actual from the trainer's steps. Times are the training steps' wall and CPU time (trainer log) and the evaluation's wall time (export, metric set, judging, grids).\n\n");
        sb.Append("| run | change | parameters | epochs (matrix) | epochs | images / epoch | share of matrix length | images planned | images seen | warmup steps | train wall | train CPU | est. train | eval wall | est. eval | last-epoch loss |\n");
        sb.Append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var x in r.Runs)
        {
            long perEpoch = x.Plan.MaxTrainImages > 0 ? x.Plan.MaxTrainImages : x.Plan.ImagesSeen / Math.Max(1, x.Plan.Epochs);
            string loss = x.Epochs.Count > 0 ? x.Epochs[^1].Loss.ToString("F4", Inv) : "-";
            sb.Append(Inv, $"| `{x.Name}` | {(x.Change.Length > 0 ? x.Change : "baseline")} | {x.Parameters:N0} | {x.MatrixEpochs:0.##} | {x.Cost.Epochs} | {perEpoch:N0} | {Percent.Of(x.Plan.Fraction, 1)} | {x.Plan.ImagesSeen:N0} | {x.Cost.ImagesSeen:N0} | {x.WarmupSteps} | " +
                $"{Time(x.Cost.TrainSeconds)} | {Time(x.Cost.TrainCpuSeconds)} | {Time(x.Plan.TrainSeconds)} | {Time(x.Cost.EvalSeconds)} | {Time(x.Plan.EvalSeconds)} | {loss} |\n");
        }

        var e = r.Evaluation;
        if (r.FailedRuns.Length > 0)
        {
            sb.Append("\nRuns that failed and are missing from every table and figure below (the same command retries them):\n\n");
            foreach (var f in r.FailedRuns) sb.Append(Inv, $"- `{f.Name}` ({f.Change}): {f.Error}\n");
        }
        sb.Append("\n## Metrics\n\n");
        sb.Append(Inv, $"Metric set per run: {e.PerClass} images per class, {e.Setting}, seed {e.Seed}, judged by the ML.NET judges in `{r.Judges}`. ");
        sb.Append(Inv, $"Real data: the main judge scores {Percent.Of(r.Real.Accuracy, 2)} on the {r.Real.TestCount:N0} test images");
        if (r.Real.LightGbmAccuracy is double lg) sb.Append(Inv, $" (LightGBM {Percent.Of(lg, 2)})");
        sb.Append(Inv, $"; a real training sample of the same size as a metric set is at Frechet distance {r.Real.FrechetFloorSameSize:F2} from the test set (the floor; {r.Real.FrechetFloor:F2} for 10,000 images); real intra-class diversity {r.Real.DiversityMean:F3}.\n\n");
        sb.Append("| run | judge accuracy | ± SE | LightGBM accuracy | both judges | Frechet distance | ± SE (bootstrap) | diversity | generation |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var x in r.Runs)
        {
            var m = x.Metrics;
            sb.Append(Inv, $"| `{x.Name}` | {Percent.Of(m.Accuracy, 1)} | {m.AccuracySe * 100:F1} pt | {(m.LightGbmAccuracy is double l ? Percent.Of(l, 1) : "-")} | " +
                $"{(m.BothJudgesAccuracy is double both ? Percent.Of(both, 1) : "-")} | {m.FrechetDistance:F2} | {m.FrechetSe:F2} | {m.DiversityMean:F3} | {m.GenerationSeconds:F1} s |\n");
        }
        sb.Append("\n![accuracy and Frechet distance per run](metrics.png)\n\n");

        sb.Append("## Findings\n\nGenerated from the numbers above: a difference counts only beyond 2 standard errors of the difference (binomial for accuracy, bootstrap for the distance).\n\n");
        foreach (var f in r.Findings) sb.Append("- ").Append(f).Append('\n');

        sb.Append("\n## Loss curves\n\n![training loss of every run](loss.png)\n\n");
        sb.Append(Inv, $"## Samples per digit\n\nRows are runs, columns guidance scales {string.Join(", ", e.GuidanceScales.Select(s => s.ToString("0.##", Inv)))} ");
        sb.Append(Inv, $"({e.ImagesPerCell} images each, {e.Steps} steps of {Runtime.Samplers.SamplerFactory.Name(Eval.Evaluation.EvalDefaults.Sampler)}); image i of a cell starts from the same noise in every run and at every scale.\n\n");
        foreach (var f in r.Files.Where(f => f.StartsWith("digit-", StringComparison.Ordinal))) sb.Append(Inv, $"![{f}]({f})\n\n");

        sb.Append(Inv, $"## Reverse process of the baseline (`{r.Runs[0].Name}`)\n\n");
        sb.Append("Trajectory x_t (rows = digits, columns = steps), the predicted x_0 at each step, the animation, and the forward process of a real test digit at the same timesteps against the reverse one.\n\n");
        sb.Append("![trajectory](reverse-trajectory.png)\n\n![predicted x0](reverse-x0.png)\n\n![animation](reverse.gif)\n\n![forward against reverse](forward-vs-reverse.png)\n\n");

        sb.Append("## Files\n\n");
        sb.Append($"`report.json` holds every number of this report; `plan.json` the budget plan; `runs/<name>/` each run's trainer folder (`{RunFolder.LogName}`, `loss-steps.csv`, `{RunFolder.ConfigName}`, checkpoints), its exported `model/`, `samples.png` and `result.json`.\n");
        return sb.ToString();
    }

    private static string Time(double seconds) => seconds >= 120 ? (seconds / 60).ToString("F1", Inv) + " min" : seconds.ToString("F0", Inv) + " s";
}

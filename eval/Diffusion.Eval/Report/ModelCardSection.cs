using System.Globalization;
using System.Text;
using Diffusion.Eval.Evaluation;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Eval.Report;

/// <summary>
/// The "Quality" section of a model card (<c>models/&lt;name&gt;/model-card.md</c>): the headline numbers of an eval
/// report, written between markers by <c>make eval ARGS='--card ...'</c>, so the card's numbers are the report's and
/// a new report replaces them. Re-exporting a model rewrites the card without the section (old numbers would not
/// describe new weights).
/// </summary>
public static class ModelCardSection
{
    /// <summary>Line that opens the generated section.</summary>
    public const string Begin = ModelCard.QualityBegin;
    /// <summary>Line that closes it.</summary>
    public const string End = ModelCard.QualityEnd;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The section's Markdown for <paramref name="r"/>, whose files are in <paramref name="reportDir"/>.</summary>
    public static string Markdown(EvalReport r, string reportDir)
    {
        var sb = new StringBuilder();
        var m = r.Metrics;
        var g = r.Generated;
        sb.Append("## Quality\n\n");
        sb.Append(Inv, $"From `{r.Command}` ({r.CreatedUtc}, {r.Machine}; report `{reportDir.Replace('\\', '/')}/report.md`). ");
        sb.Append(Inv, $"{g.Count:N0} generated images ({g.PerClass} per class, {g.Precision ?? "float32"} graphs) with {g.Setting}, seed {g.Seed}, judged by this folder's judges (`{ModelFolderLayout.JudgeCardMarkdown}`).\n\n");
        sb.Append("| Metric | Generated | Real data |\n|---|---:|---:|\n");
        sb.Append(Inv, $"| Main judge (CNN, ML.NET) accuracy | {m.Cnn.Accuracy:P2} | {r.Real.Cnn.Accuracy:P2} (test set) |\n");
        if (m.LightGbm is { } l) sb.Append(Inv, $"| Second judge (LightGBM) accuracy | {l.Accuracy:P2} | {r.Real.LightGbm?.Accuracy.ToString("P2", Inv) ?? "-"} (test set) |\n");
        sb.Append(Inv, $"| Lowest per-class main-judge accuracy | {m.Cnn.PerClassAccuracy.Min():P2} ({r.ClassNames[Array.IndexOf(m.Cnn.PerClassAccuracy, m.Cnn.PerClassAccuracy.Min())]}) | |\n");
        sb.Append(Inv, $"| Frechet distance to the test set (judge features) | {m.FrechetDistance:F3} | {m.FrechetFloorSameSize:F3} (real training images, same count); {r.Real.FrechetFloor:F3} ({r.Real.TrainSampleCount:N0} images) |\n");
        sb.Append(Inv, $"| Diversity (mean pairwise feature distance within a class) | {m.DiversityMean:F3} | {r.Real.DiversityMean:F3} |\n");
        if (m.Background is { } bg && r.Real.Background is { } rb)
            sb.Append(Inv, $"| Clean background (pixels within {bg.Tolerance} grey levels of {bg.Value}) | {bg.Mean:P1} | {rb.Mean:P1} |\n");
        if (r.Sweep is { Length: > 0 } sweep)
        {
            // highest accuracy; ties go to fewer steps, then to the lower Frechet distance
            static SweepPoint Best(IEnumerable<SweepPoint> p) => p.OrderByDescending(x => x.CnnAccuracy).ThenBy(x => x.Steps).ThenBy(x => x.FrechetDistance).First();
            var best = Best(sweep);
            sb.Append(Inv, $"\nGuidance sweep ({r.SweepSampler}, {r.SweepPerClass} per class per setting): best main-judge accuracy {best.CnnAccuracy:P2} at scale {best.Scale:G} and {best.Steps} steps (Frechet distance {best.FrechetDistance:F3}, diversity {best.DiversityMean:F3})");
            if (sweep.Where(x => x.Steps <= 20).ToList() is { Count: > 0 } few)
            {
                var b20 = Best(few);
                sb.Append(Inv, $"; at 20 steps or fewer {b20.CnnAccuracy:P2} (scale {b20.Scale:G}, {b20.Steps} steps)");
            }
            var lowFd = sweep.OrderBy(x => x.FrechetDistance).First();
            sb.Append(Inv, $"; lowest Frechet distance {lowFd.FrechetDistance:F3} at scale {lowFd.Scale:G}, {lowFd.Steps} steps.\n");
        }
        if (r.Denoising is { Length: > 0 } dn)
        {
            sb.Append("\nOne-step x0 prediction from noised test images (PSNR / SSIM of the prediction, of the noisy input): ");
            sb.Append(string.Join("; ", dn.Select(d => string.Create(Inv, $"t = {d.Timestep}: {d.Psnr:F1} dB / {d.Ssim:F3} ({d.NoisyPsnr:F1} dB / {d.NoisySsim:F3})"))));
            sb.Append(".\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Writes the section into <paramref name="cardPath"/> (atomically): replaces an existing one, else appends it.
    /// </summary>
    /// <exception cref="InvalidInputException">The card does not exist, or has a begin marker without an end.</exception>
    public static void Update(string cardPath, EvalReport r, string reportDir)
    {
        if (!File.Exists(cardPath)) throw new InvalidInputException($"--card {cardPath}: not found; export the model first (make export).");
        ModelCard.SetSection(cardPath, Begin, End, Markdown(r, reportDir));
    }
}

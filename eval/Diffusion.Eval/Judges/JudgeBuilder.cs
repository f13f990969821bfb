using System.Diagnostics;
using System.Globalization;
using System.Text;
using Diffusion.Eval.Metrics;
using Diffusion.Runtime;
using Microsoft.ML.OnnxRuntime;
using Diffusion.Tools;

namespace Diffusion.Eval.Judges;

/// <summary>Settings of <see cref="JudgeBuilder.Build"/>.</summary>
public sealed record JudgeBuildOptions
{
    /// <summary>The exported CNN (judge.onnx with <see cref="JudgeMetadata"/>).</summary>
    public required string Onnx { get; init; }
    /// <summary>Folder for judge.onnx (copied there when elsewhere), judge.mlnet.zip, judge-lightgbm.zip, judge.json, judge-card.md.</summary>
    public required string OutDir { get; init; }
    /// <summary>Folder of the dataset: IDX files (train and t10k) or an image folder with train/ and test/.</summary>
    public required string Data { get; init; }
    /// <summary>What an image folder's images of another size than the judge's get (refused by default).</summary>
    public Imaging.ResizeMode Resize { get; init; }
    /// <summary>LightGBM settings; null skips the LightGBM judge.</summary>
    public LightGbmOptions? LightGbm { get; init; } = new();
    /// <summary>
    /// Keep the LightGBM judge already in <see cref="OutDir"/> (it must match the judge.json there) and only
    /// measure it again, instead of training a new one (for re-exporting the CNN without the long LightGBM run).
    /// </summary>
    public bool KeepLightGbm { get; init; }
    /// <summary>Train LightGBM on the first N training images (0 = all).</summary>
    public int LightGbmTrainLimit { get; init; }
    /// <summary>ONNX Runtime threads inside ML.NET (null = default).</summary>
    public int? Threads { get; init; }
    /// <summary>The command line, recorded in the card.</summary>
    public string Command { get; init; } = "";
}

/// <summary>
/// Builds the judges of a dataset from the exported CNN: the ML.NET pipeline around it (saved as a zip, then
/// reloaded from the zip and measured on the test set) and the LightGBM judge (trained on the training set,
/// saved, reloaded and measured), and writes <c>judge.json</c> and <c>judge-card.md</c>.
/// </summary>
public static class JudgeBuilder
{
    /// <summary>Reads the judge metadata of an ONNX file.</summary>
    /// <exception cref="InvalidInputException">Missing, not ONNX, or not a judge.</exception>
    public static JudgeMetadata ReadMetadata(string onnxPath)
    {
        if (!File.Exists(onnxPath)) throw new InvalidInputException($"Judge ONNX file not found: {onnxPath} (export it with 'make export-classifier').");
        try
        {
            using var session = new InferenceSession(onnxPath);
            return JudgeMetadata.FromProperties(session.ModelMetadata.CustomMetadataMap, onnxPath);
        }
        catch (OnnxRuntimeException e) { throw new InvalidInputException($"{onnxPath}: ONNX Runtime cannot load it ({e.Message.Trim()}).", e); }
    }

    /// <summary>Builds, measures and writes the judges; returns the card.</summary>
    /// <param name="options">Paths and settings.</param>
    /// <param name="log">Progress lines (may be null).</param>
    /// <exception cref="InvalidInputException">Bad ONNX, data or options.</exception>
    public static JudgeCard Build(JudgeBuildOptions options, Action<string>? log = null)
    {
        options.LightGbm?.Validate();
        if (options.LightGbmTrainLimit < 0) throw new InvalidInputException($"--lgbm-limit {options.LightGbmTrainLimit}; expected >= 0.");
        var meta = ReadMetadata(options.Onnx);
        int k = meta.NumClasses;
        int[] shape = [meta.Channels, meta.Height, meta.Width];
        var test = ImageSet.From(JudgeSet.LoadData(options.Data, Imaging.DataSplit.Test, meta.ClassNames, shape, options.Resize));
        Directory.CreateDirectory(options.OutDir);
        string onnx = Path.Combine(options.OutDir, ModelFolderLayout.JudgeOnnx);
        if (Path.GetFullPath(onnx) != Path.GetFullPath(options.Onnx)) AtomicFile.WriteAllBytes(onnx, File.ReadAllBytes(options.Onnx));

        // Main judge: ML.NET pipeline around the ONNX CNN, saved, then reloaded from the zip alone and measured.
        string zip = Path.Combine(options.OutDir, ModelFolderLayout.JudgeMlNet);
        using (var built = OnnxCnnJudge.FromOnnx(onnx, meta.Channels, meta.Height, meta.Width, options.Threads))
        {
            if (built.NumClasses != k || built.FeatureDim != meta.FeatureDim)
                throw new InvalidInputException($"{options.Onnx}: outputs give {built.NumClasses} classes and F = {built.FeatureDim}; its metadata says {k} and {meta.FeatureDim}.");
            built.Save(zip);
        }
        log?.Invoke($"wrote {zip}");
        ClassificationMetrics cnnTest;
        double cnnSeconds;
        using (var cnn = OnnxCnnJudge.Load(zip))
        {
            var sw = Stopwatch.StartNew();
            var scores = cnn.Score(test);
            cnnSeconds = sw.Elapsed.TotalSeconds;
            cnnTest = ClassificationMetrics.Compute(test.Labels, scores.Probabilities, k);
        }
        log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"ML.NET CNN judge: test accuracy {cnnTest.Accuracy:P2} ({test.Count} images, {cnnSeconds:F1} s)"));

        // Second judge: LightGBM on raw pixels, trained here.
        JudgeFile? lgbmFile = null;
        ClassificationMetrics? lgbmTest = null;
        double lgbmSeconds = 0;
        int lgbmCount = 0;
        LightGbmOptions? lgbmOptions = null;
        if (options.LightGbm is { } lo)
        {
            string lgbmPath = Path.Combine(options.OutDir, ModelFolderLayout.JudgeLightGbm);
            if (options.KeepLightGbm)
            {
                string cardPath = Path.Combine(options.OutDir, ModelFolderLayout.JudgeCard);
                var previous = JudgeCard.Load(cardPath);
                if (!File.Exists(lgbmPath)) throw new InvalidInputException($"--keep-lightgbm: {lgbmPath} does not exist; build it without --keep-lightgbm.");
                JudgeCard.Verify(previous.LightGbm, lgbmPath, cardPath);
                if (previous.Dataset != meta.Dataset)
                    throw new InvalidInputException($"--keep-lightgbm: {cardPath} describes a '{previous.Dataset}' LightGBM judge; the CNN judges '{meta.Dataset}'.");
                (lo, lgbmSeconds, lgbmCount) = (previous.LightGbmOptions ?? lo, previous.LightGbmTrainSeconds, previous.LightGbmTrainCount);
                log?.Invoke($"keeping {lgbmPath} (trained on {lgbmCount} images in {lgbmSeconds:F0} s)");
            }
            else
            {
                var train = ImageSet.From(Imaging.LabelledData.Load(options.Data, Imaging.DataSplit.Train, k, meta.Channels, meta.Height, options.Resize, options.LightGbmTrainLimit));
                lgbmCount = train.Count;
                var sw = Stopwatch.StartNew();
                using (var trained = LightGbmJudge.Train(train, k, lo)) { lgbmSeconds = sw.Elapsed.TotalSeconds; trained.Save(lgbmPath); }
            }
            using (var lgbm = LightGbmJudge.Load(lgbmPath))
                lgbmTest = ClassificationMetrics.Compute(test.Labels, lgbm.Score(test).Probabilities, k);
            lgbmFile = JudgeFile.Of(lgbmPath, options.OutDir);
            lgbmOptions = lo;
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"LightGBM judge: trained on {lgbmCount} images in {lgbmSeconds:F0} s, test accuracy {lgbmTest.Accuracy:P2}"));
        }

        var card = new JudgeCard
        {
            Dataset = meta.Dataset, ClassNames = [.. meta.ClassNames], ImageShape = [meta.Channels, meta.Height, meta.Width],
            FeatureDim = meta.FeatureDim,
            Onnx = JudgeFile.Of(onnx, options.OutDir), MlNet = JudgeFile.Of(zip, options.OutDir), LightGbm = lgbmFile,
            CnnArchitecture = meta.Architecture, CnnTorchSharpTestAccuracy = meta.TestAccuracy,
            CnnTrainSeconds = meta.TrainSeconds, CnnTrainHardware = meta.TrainHardware,
            CnnTest = cnnTest, CnnScoreSeconds = Math.Round(cnnSeconds, 2),
            LightGbmOptions = lgbmOptions, LightGbmTest = lgbmTest, LightGbmTrainSeconds = Math.Round(lgbmSeconds, 1), LightGbmTrainCount = lgbmCount,
            CnnTrainCommand = meta.TrainCommand, CnnExportCommand = meta.ExportCommand, CnnSourceCommit = meta.SourceCommit, Command = options.Command,
            Hardware = MachineInfo.Describe(), CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        };
        card.Save(Path.Combine(options.OutDir, ModelFolderLayout.JudgeCard));
        AtomicFile.WriteAllText(Path.Combine(options.OutDir, ModelFolderLayout.JudgeCardMarkdown), Markdown(card));
        return card;
    }

    /// <summary>The card as Markdown: files, accuracies per class, commands. Every number comes from <paramref name="card"/>.</summary>
    public static string Markdown(JudgeCard card)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"# Judges for {card.Dataset}").AppendLine();
        sb.AppendLine("Generated by `eval judges`; every number below is measured on the test set "
            + $"({card.CnnTest?.Count ?? 0} images) and also stored in `{ModelFolderLayout.JudgeCard}`.").AppendLine();
        sb.AppendLine("| judge | file | test accuracy | mean confidence | notes |").AppendLine("|---|---|---|---|---|");
        if (card.CnnTest is { } c)
            sb.AppendLine(inv, $"| CNN via ML.NET OnnxTransformer (main) | `{card.MlNet?.File}` | {c.Accuracy:P2} | {c.MeanConfidence:F4} | {card.CnnArchitecture}; TorchSharp measured {card.CnnTorchSharpTestAccuracy:P2}; trained in {card.CnnTrainSeconds:F0} s ({card.CnnTrainHardware}); ML.NET scored the test set in {card.CnnScoreSeconds:F1} s |");
        if (card.LightGbmTest is { } l)
            sb.AppendLine(inv, $"| LightGBM on pixels (ML.NET) | `{card.LightGbm?.File}` | {l.Accuracy:P2} | {l.MeanConfidence:F4} | {card.LightGbmOptions?.Iterations} rounds, {card.LightGbmOptions?.Leaves} leaves; trained on {card.LightGbmTrainCount} images in {card.LightGbmTrainSeconds:F0} s |");
        sb.AppendLine().AppendLine("## Accuracy per class").AppendLine();
        sb.AppendLine("| class | name | CNN | LightGBM |").AppendLine("|---|---|---|---|");
        for (int i = 0; i < card.NumClasses; i++)
            sb.AppendLine(inv, $"| {i} | {card.ClassNames[i]} | {Pct(card.CnnTest?.PerClassAccuracy, i)} | {Pct(card.LightGbmTest?.PerClassAccuracy, i)} |");
        sb.AppendLine().AppendLine("## Reproduce").AppendLine();
        sb.AppendLine("```").AppendLine(card.CnnTrainCommand).AppendLine(card.CnnExportCommand.Length > 0 ? card.CnnExportCommand : $"make export-classifier ARGS='--dataset {card.Dataset}'").AppendLine(card.Command).AppendLine("```").AppendLine();
        sb.AppendLine(inv, $"Files: {string.Join(", ", new[] { card.Onnx, card.MlNet, card.LightGbm }.Where(f => f is not null).Select(f => $"`{f!.File}` ({f.Bytes:N0} bytes, sha256 `{f.Sha256[..16]}...`)"))}.").AppendLine();
        sb.AppendLine(inv, $"Measured on: {card.Hardware}, {card.CreatedUtc}. CNN source commit `{card.CnnSourceCommit}`.");
        return sb.ToString();

        static string Pct(double[]? v, int i) => v is null || i >= v.Length ? "-" : v[i].ToString("P2", CultureInfo.InvariantCulture);
    }
}

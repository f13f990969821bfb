using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Google.Protobuf;
using Diffusion.Tools;
using Diffusion.Imaging;

namespace Diffusion.Export;

/// <summary>The images that calibrate int8 graphs and check their parity (<see cref="Int8Folder.LoadCalibration"/>).</summary>
/// <param name="DataDir">The IDX folder or image folder they came from (named in the card).</param>
/// <param name="Train">Its train split: calibration.</param>
/// <param name="Parity">Its test split (else the train split): the parity check.</param>
/// <param name="ParitySplit">"test" or "train".</param>
public sealed record Int8Calibration(string DataDir, LabelledImages Train, LabelledImages Parity, string ParitySplit);

/// <summary>What <see cref="Int8Folder.Write"/> wrote for one graph.</summary>
/// <param name="Path">The int8 file.</param>
/// <param name="Convolutions">Convolutions quantized.</param>
/// <param name="Parity">Per-step difference from the float32 graph.</param>
public sealed record Int8FileResult(string Path, int Convolutions, Int8Parity Parity);

/// <summary>
/// The int8 graphs of a model folder: <c>unet-int8.onnx</c> and <c>unet-guided-int8.onnx</c> quantized from the
/// folder's float32 graphs (<see cref="Int8Quantizer"/>), plus their entry in <c>model-card.json</c> ("int8", and
/// the files' sizes and hashes) and a generated section of <c>model-card.md</c>. The runtime runs them on the CPU by
/// default (<see cref="Runtime.Onnx.PrecisionMode.Auto"/>). Files are written atomically.
/// </summary>
public static class Int8Folder
{
    /// <summary>
    /// Loads and checks the calibration data of <paramref name="dataDir"/>: its train split (calibration) and its test
    /// split (parity), or the train split again when there is no test split. Called before anything is written, so
    /// that a bad data folder never costs an export.
    /// </summary>
    /// <param name="dataDir">IDX folder or image folder (<see cref="LabelledData"/>).</param>
    /// <param name="numClasses">The model's classes: labels must lie in 0..numClasses-1.</param>
    /// <param name="channels">The model's channels C.</param>
    /// <param name="size">The model's side: IDX images must have it; an image folder's are read at it.</param>
    /// <param name="resize">What an image folder's images of another size get (the training run's setting).</param>
    /// <exception cref="InvalidInputException">Missing folder or files, corrupt or truncated IDX, an undecodable image, labels out of range, another shape.</exception>
    public static Int8Calibration LoadCalibration(string dataDir, int numClasses, int channels = 1, int size = 28, ResizeMode resize = ResizeMode.Refuse)
    {
        var train = LabelledData.Load(dataDir, DataSplit.Train, numClasses, channels, size, resize);
        return LabelledData.HasSplit(dataDir, DataSplit.Test)
            ? new Int8Calibration(dataDir, train, LabelledData.Load(dataDir, DataSplit.Test, numClasses, channels, size, resize), "test")
            : new Int8Calibration(dataDir, train, train, "train");
    }

    /// <summary>
    /// Quantizes the float32 graphs of <paramref name="modelDir"/> (the U-Net graphs and every distilled student),
    /// calibrated on <paramref name="data"/>, or only the files named in <paramref name="only"/>; the card's int8 entry
    /// lists every int8 graph of the folder afterwards.
    /// </summary>
    /// <param name="modelDir">Exported model folder (the export's staging folder: it is swapped in only when every file is written).</param>
    /// <param name="data">Calibration and parity images (<see cref="LoadCalibration"/>).</param>
    /// <param name="calibrationImages">Noised training images for calibration.</param>
    /// <param name="parityImages">Noised test images for the parity check.</param>
    /// <param name="only">Float32 files to quantize (a student just exported), or null for every graph of the folder
    /// (then int8 forms whose float32 graph is gone are deleted).</param>
    /// <exception cref="InvalidInputException">No float32 graph in the folder, images of another size than the model's, or
    /// an int8 graph further from its float32 graph than <see cref="Int8Quantizer.ParityBound"/> (then nothing is written).</exception>
    public static IReadOnlyList<Int8FileResult> Write(string modelDir, Int8Calibration data,
        int calibrationImages = Int8Quantizer.CalibrationImages, int parityImages = Int8Quantizer.ParityImages, IReadOnlyCollection<string>? only = null)
    {
        var present = ModelFolderLayout.Int8Pairs.Where(f => File.Exists(Path.Combine(modelDir, f.Float32))).ToList();
        if (present.Count == 0 && only is null)
            throw new InvalidInputException($"Model folder {modelDir} has neither {ModelFolderLayout.Unet} nor {ModelFolderLayout.Guided} to quantize.");
        var students = ModelFolderLayout.StudentPairs(modelDir);
        var pairs = present.Concat(students).Where(p => only is null || only.Contains(p.Float32)).ToList();
        if (pairs.Count == 0)
            throw new InvalidInputException($"Model folder {modelDir} has none of {string.Join(", ", only!)} to quantize.");
        var meta = ModelMetadata.FromProperties(Onnx.OnnxHelper.Metadata(ExportCommand.LoadOnnx(Path.Combine(modelDir, pairs[0].Float32))), pairs[0].Float32);
        if (data.Train.Height != meta.Height || data.Train.Width != meta.Width || data.Train.Channels != meta.Channels)
            throw new InvalidInputException($"Calibration data {data.DataDir}: [{data.Train.Channels}, {data.Train.Height}, {data.Train.Width}] images; the model takes [{meta.Channels}, {meta.Height}, {meta.Width}].");

        var built = new List<(string Name, byte[] Bytes, Int8Graph Graph)>();
        foreach (var (fl, q) in pairs)
        {
            var g = Int8Quantizer.Quantize(File.ReadAllBytes(Path.Combine(modelDir, fl)), data.Train, (data.Parity, data.ParitySplit), calibrationImages, parityImages);
            built.Add((q, g.Model.ToByteArray(), g));
        }
        foreach (var (name, _, g) in built)
            if (!(g.Parity.RelativeRms <= Int8Quantizer.ParityBound))
                throw new InvalidInputException(string.Create(CultureInfo.InvariantCulture,
                    $"{name}: one step differs from the float32 graph by relative RMS {g.Parity.RelativeRms:F4} on {g.Parity.Images} noised {g.Parity.Split} images, over the bound {Int8Quantizer.ParityBound}; nothing written, the model folder is unchanged (--no-int8 exports the float32 graphs alone)."));
        var results = new List<Int8FileResult>();
        foreach (var (name, bytes, g) in built)
        {
            string path = Path.Combine(modelDir, name);
            AtomicFile.WriteAllBytes(path, bytes);
            results.Add(new Int8FileResult(path, g.Convolutions, g.Parity));
        }
        if (only is null)
        {
            foreach (var (_, q) in ModelFolderLayout.Int8Pairs.Except(present)) Delete(modelDir, q);
            foreach (int n in ModelFolderLayout.StudentSteps(modelDir, int8: true).Except(ModelFolderLayout.StudentSteps(modelDir, int8: false)))
                Delete(modelDir, ModelFolderLayout.StudentFile(n, int8: true));
        }
        UpdateCard(modelDir, data.DataDir, calibrationImages, built);
        return results;
    }

    private static void Delete(string dir, string name)
    {
        string p = Path.Combine(dir, name);
        if (File.Exists(p)) File.Delete(p);
    }

    // The card's int8 entry: the graphs just built, and those of an earlier write that are still in the folder
    private static void UpdateCard(string modelDir, string dataDir, int calibrationImages, List<(string Name, byte[] Bytes, Int8Graph Graph)> built)
    {
        var inv = CultureInfo.InvariantCulture;
        string mdPath = ModelCard.MarkdownPath(modelDir);
        var graphs = new JsonObject();
        if (File.Exists(ModelCard.JsonPath(modelDir)) && ModelCard.ReadJson(modelDir)[Int8Key]?[GraphsKey] is JsonObject old)
            foreach (var (name, entry) in old)
                if (entry is not null && File.Exists(Path.Combine(modelDir, name)) && !built.Any(b => b.Name == name))
                    graphs[name] = entry.DeepClone();
        foreach (var (name, bytes, g) in built)
            graphs[name] = new JsonObject
            {
                ["bytes"] = bytes.LongLength,
                [ModelFolderLayout.CardSha256Key] = Convert.ToHexStringLower(SHA256.HashData(bytes)),
                ["convolutions"] = g.Convolutions,
                ["parity"] = new JsonObject
                {
                    ["relative_rms"] = Math.Round(g.Parity.RelativeRms, 6),
                    ["max_abs"] = Math.Round(g.Parity.MaxAbs, 6),
                    ["images"] = g.Parity.Images,
                    ["split"] = g.Parity.Split,
                },
            };
        // teacher graphs first, then the students by step count
        var teacher = ModelFolderLayout.Int8Pairs.Select(p => p.Int8).ToList();
        var studentSteps = ModelFolderLayout.StudentSteps(modelDir, int8: true);
        int Order(string n) => teacher.Contains(n) ? teacher.IndexOf(n) : teacher.Count + studentSteps.FirstOrDefault(k => ModelFolderLayout.StudentFile(k, true) == n);
        var ordered = graphs.Select(kv => kv.Key).OrderBy(Order).ToList();
        var sorted = new JsonObject();
        foreach (var n in ordered) sorted[n] = graphs[n]!.DeepClone();
        string data = dataDir.Replace('\\', '/');
        ModelCard.SetJson(modelDir, Int8Key, new JsonObject
        {
            ["method"] = "static QDQ: uint8 activations per tensor (min/max), int8 weights per output channel, int32 bias; QLinearConv on the CPU",
            ["calibration"] = new JsonObject { ["data"] = data, ["split"] = "train", ["images"] = calibrationImages, ["guidance_scale"] = Int8Quantizer.Scale },
            [GraphsKey] = sorted,
        });
        if (!File.Exists(mdPath)) return;
        var sb = new StringBuilder();
        sb.Append("## Int8 graphs (CPU)\n\n");
        var names = ordered.Select(b => $"`{b}`").ToList();
        sb.Append(inv, $"{(names.Count == 1 ? names[0] : string.Join(", ", names.SkipLast(1)) + " and " + names[^1])}: the graphs above with every convolution but the stem (the one that reads x_t) in int8 ");
        sb.Append("(QuantizeLinear / DequantizeLinear around it, which ONNX Runtime's CPU provider runs as QLinearConv); the stem, normalisation, attention, activations and guidance stay float32. ");
        sb.Append("The runtime runs them on the CPU by default (`PrecisionMode.Auto`; `--precision float32` runs the exported weights as trained). ");
        sb.Append(inv, $"Activation ranges: min / max of every convolution's input and output over {calibrationImages} forward-noised images of `{data}`'s train split ");
        sb.Append(inv, $"(t uniform, {ForwardProcess.DefaultNullLabelRate * 100:G}% null labels, guidance scale {Int8Quantizer.Scale:G}{(ordered.Count > teacher.Count(ordered.Contains) ? "; a student's t from its own timesteps, its scale within its range" : "")}); weights per output channel (max |w| / 127).\n\n");
        sb.Append("| File | Convolutions | Bytes | SHA-256 | Per-step difference from float32: relative RMS / max abs |\n|---|---:|---:|---|---|\n");
        foreach (var name in ordered)
        {
            var e = sorted[name]!;
            var par = e["parity"]!;
            sb.Append(inv, $"| {name} | {(int)e["convolutions"]!} | {((long)e["bytes"]!).ToString("N0", inv)} | `{(string)e[ModelFolderLayout.CardSha256Key]!}` | {(double)par["relative_rms"]!:F4} / {(double)par["max_abs"]!:F3} ({(int)par["images"]!} noised {(string)par["split"]!} images) |\n");
        }
        sb.Append("\nRelative RMS is sqrt(sum (int8 - float32)^2 / sum float32^2) of one model call's output on the same inputs. ");
        sb.Append("Whether that changes what the model draws is measured by `make gate` and `make eval`, which run the default (int8) graphs.\n");
        ModelCard.SetSection(mdPath, ModelCard.Int8Begin, ModelCard.Int8End, sb.ToString());
    }

    private const string Int8Key = "int8", GraphsKey = "graphs";
}

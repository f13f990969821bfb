using System.Globalization;
using Diffusion.Export.Emitters;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Train.Checkpoints;
using Diffusion.Tools;

namespace Diffusion.Export;

/// <summary>The <c>export</c> command: a thin layer that loads a checkpoint and calls <see cref="ModelFolder.Write"/>.</summary>
public static class ExportCommand
{
    /// <summary>Checkpoint of the default training config (<c>configs/mnist.json</c>, run "mnist").</summary>
    public static string DefaultCheckpoint { get; } = RunFolder.DisplayLastCheckpoint("mnist");

    /// <summary>Refuses an opset the builder does not write, naming the option.</summary>
    /// <exception cref="InvalidInputException">Outside <see cref="OnnxOpset.Min"/>..<see cref="OnnxOpset.Max"/>.</exception>
    public static void CheckOpset(int opset)
    {
        if (!OnnxOpset.IsSupported(opset))
            throw new InvalidInputException($"--opset {opset} is not supported; expected {OnnxOpset.Min}..{OnnxOpset.Max} (default {OnnxOpset.Default}).");
    }

    /// <summary>Reads an ONNX file; a missing or broken one is bad input.</summary>
    /// <exception cref="InvalidInputException">Missing file or not an ONNX model; the message names it.</exception>
    public static Onnx.Proto.ModelProto LoadOnnx(string path)
    {
        try { return OnnxHelper.Load(path); }
        catch (OnnxFormatException e) { throw new InvalidInputException(e.Message, e); }
    }

    /// <summary>The <c>export</c> command: writes the model folder and reports what it wrote.</summary>
    /// <param name="checkpointPath">Checkpoint file.</param>
    /// <param name="outDir">Output folder, or null for <c>models/&lt;run name&gt;</c>.</param>
    /// <param name="opset">ONNX opset.</param>
    /// <param name="ema">Export the EMA weights (default) or the raw ones.</param>
    /// <param name="int8">Also write the int8 graphs (<see cref="Int8Folder"/>); off removes stale ones.</param>
    /// <param name="dataDir">IDX folder for int8 calibration, or null for <c>data/&lt;dataset&gt;</c> (then a missing folder skips int8 with a warning).</param>
    /// <param name="stdout">Progress messages.</param>
    /// <param name="stderr">Warnings.</param>
    /// <exception cref="InvalidInputException">Bad input (opset, checkpoint, data); checked before anything is written.</exception>
    public static void Run(string checkpointPath, string? outDir, int opset, bool ema, bool int8, string? dataDir, TextWriter stdout, TextWriter stderr)
    {
        CheckOpset(opset);
        if (int8 && dataDir is not null) IdxDataset.SplitFiles(dataDir, "train"); // a bad --data fails before anything is written
        var result = Export(checkpointPath, outDir, opset, ema);
        var inv = CultureInfo.InvariantCulture;
        foreach (var f in result.Files) stdout.WriteLine($"wrote {f}");
        stdout.WriteLine(string.Create(inv, $"{result.ParameterCount:N0} parameters; {result.UnetFlops.Total / 1e6:F1} MFLOPs per image (unet.onnx), {result.GuidedFlops.Total / 1e6:F1} (unet-guided.onnx)"));
        string dir = Path.GetDirectoryName(result.Files[0])!;
        if (!int8)
        {
            foreach (var f in Int8Folder.Remove(dir)) stdout.WriteLine($"removed {f} (--no-int8)");
            return;
        }
        string data = dataDir ?? Path.Combine("data", result.Dataset);
        if (dataDir is null && !Directory.Exists(data))
        {
            foreach (var f in Int8Folder.Remove(dir)) stdout.WriteLine($"removed stale {f}");
            stderr.WriteLine($"warning: no {data} for int8 calibration; wrote the float32 graphs only (run 'make data', pass --data, or --no-int8 to silence this).");
            return;
        }
        WriteInt8(dir, data, stdout);
    }

    /// <summary>The <c>int8</c> command: (re)writes the int8 graphs of an exported folder.</summary>
    /// <param name="modelDir">Exported model folder.</param>
    /// <param name="dataDir">IDX folder for calibration, or null for <c>data/&lt;dataset&gt;</c>.</param>
    /// <param name="stdout">Progress messages.</param>
    /// <exception cref="InvalidInputException">No such folder, no graph in it, or bad calibration data.</exception>
    public static void RunInt8(string modelDir, string? dataDir, TextWriter stdout)
    {
        if (!Directory.Exists(modelDir)) throw new InvalidInputException($"--model {modelDir}: folder not found; export a checkpoint first (make export).");
        string? any = ModelFolderLayout.Int8Pairs.Select(p => Path.Combine(modelDir, p.Float32)).FirstOrDefault(File.Exists);
        string dataset = any is null ? "" : ModelMetadata.FromProperties(OnnxHelper.Metadata(LoadOnnx(any)), any).Dataset;
        WriteInt8(modelDir, dataDir ?? Path.Combine("data", dataset), stdout);
    }

    private static void WriteInt8(string dir, string data, TextWriter stdout)
    {
        foreach (var r in Int8Folder.Write(dir, data))
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {r.Path}: {r.Convolutions} int8 convolutions (calibrated on {data}); per step vs float32: relative RMS {r.Parity.RelativeRms:F4}, max abs {r.Parity.MaxAbs:F3} on {r.Parity.Images} noised {r.Parity.Split} images"));
    }

    /// <summary>
    /// Prints a Markdown table of every preset: parameters, FLOPs per image counted from the exported graphs and the
    /// size of unet.onnx (weights as initialised; sizes and counts do not depend on the values).
    /// </summary>
    public static int DescribePresets(TextWriter stdout)
    {
        var inv = CultureInfo.InvariantCulture;
        stdout.WriteLine("| Preset | Parameters | MFLOPs / image, unet.onnx | MFLOPs / image, unet-guided.onnx | unet.onnx bytes |");
        stdout.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var preset in new[] { "small", "medium", "large" })
        {
            var cfg = Train.Model.UNetConfig.Preset(preset);
            using var model = new Train.Model.UNet(cfg);
            var meta = new ModelMetadata
            {
                Dataset = "mnist", Channels = cfg.InChannels, Height = cfg.ImageSize, Width = cfg.ImageSize, NumClasses = cfg.NumClasses,
                Timesteps = 1000, Schedule = NoiseScheduleKind.Cosine, Architecture = preset,
            };
            var (unet, guided) = UNetExporter.BuildBoth(model, meta);
            stdout.WriteLine(string.Create(inv, $"| {preset} | {model.ParameterCount():N0} | {FlopCounter.Count(unet).Total / 1e6:F1} | {FlopCounter.Count(guided).Total / 1e6:F1} | {OnnxHelper.Serialize(unet).Length:N0} |"));
        }
        return 0;
    }

    /// <summary>
    /// Loads the checkpoint (refusing missing, corrupt or foreign files before anything is written) and writes the
    /// model folder (<see cref="ModelFolder.Write"/>): what the <c>export</c> command does, for in-process callers.
    /// </summary>
    /// <param name="checkpointPath">Checkpoint file.</param>
    /// <param name="outDir">Output folder, or null for <c>models/&lt;run name&gt;</c>.</param>
    /// <param name="opset">ONNX opset.</param>
    /// <param name="ema">Export the EMA weights (default) or the raw ones.</param>
    /// <exception cref="InvalidInputException">Missing, corrupt or foreign checkpoint.</exception>
    public static ExportResult Export(string checkpointPath, string? outDir, int opset = OnnxOpset.Default, bool ema = true)
    {
        using var ck = Checkpoint.Load(checkpointPath);
        string name = ck.Config.Name;
        outDir ??= Path.Combine("models", name);
        var model = ema ? ck.Ema : ck.Model;
        model.eval();
        var source = new ExportSource(name, Path.GetFileName(checkpointPath), ck.Step, ck.Epoch, TrainingRun.Read(checkpointPath, ck.Config, ck.Epoch));
        return ModelFolder.Write(model, ck.ToMetadata(GraphKind.Unet, ema), ck.ConfigJson, outDir, source, new ExportOptions { Opset = opset });
    }
}

using Diffusion.Tools;
using System.CommandLine;
using Diffusion.Onnx.Torch;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Tools.Cli;

namespace Diffusion.Export;

/// <summary>The <c>export</c>, <c>int8</c> and <c>presets</c> command lines (the Exe beside this library only calls <see cref="Run"/>).</summary>
public static class ExportCli
{
    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code (2 for bad input, 1 for a model the exporter cannot translate).</summary>
    /// <param name="args">Command-line arguments.</param>
    /// <param name="stdout">Output (default: the console).</param>
    /// <param name="stderr">Errors and warnings (default: the console's error stream).</param>
    public static int Run(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        // export --checkpoint runs/<name>/checkpoints/last.ckpt --out models/<name> [--opset 17] [--no-ema] [--no-int8] [--data data/<dataset>]
        // int8 --model models/<name> [--data data/<dataset>]
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = $"Training checkpoint to export (runs/<name>/checkpoints/{RunFolder.LastCheckpointName}).",
            DefaultValueFactory = _ => ExportCommand.DefaultCheckpoint,
        };
        var output = new Option<string?>("--out") { Description = "Output folder (default: models/<run name>)." };
        var opset = new Option<int>("--opset")
        {
            Description = $"ONNX opset, {OnnxOpset.Min}..{OnnxOpset.Max}.",
            DefaultValueFactory = _ => OnnxOpset.Default,
        };
        var noEma = new Option<bool>("--no-ema") { Description = "Export the raw trained weights instead of the EMA weights." };

        var noInt8 = new Option<bool>("--no-int8") { Description = "Write only the float32 graphs (and remove int8 graphs left from an earlier export)." };
        var data = new Option<string?>("--data") { Description = "IDX folder or image folder whose train split calibrates the int8 graphs (default: data/<dataset>; when that is missing, int8 is skipped with a warning)." };

        var export = new Command("export", $"Export a checkpoint to {ModelFolderLayout.Unet}, {ModelFolderLayout.Guided}, their int8 forms and a model card.") { checkpoint, output, opset, noEma, noInt8, data };
        export.SetAction(r => Translating(stderr, () => ExportCommand.Run(r.GetValue(checkpoint)!, r.GetValue(output), r.GetValue(opset), !r.GetValue(noEma), !r.GetValue(noInt8), r.GetValue(data), stdout, stderr)));
        var modelDir = new Option<string>("--model") { Description = "Exported model folder.", DefaultValueFactory = _ => Path.Combine("models", "mnist") };
        var resize = new Option<string>("--resize") { Description = "Image folder: images of another size than the model's are refuse(d), or resized linear or cubic (as the training run did).", DefaultValueFactory = _ => "refuse" };
        var int8 = new Command("int8", $"(Re)write {ModelFolderLayout.UnetInt8}, {ModelFolderLayout.GuidedInt8} and the int8 forms of the distilled students of an exported folder, calibrated on data/<dataset>, and their model-card section.") { modelDir, data, resize };
        int8.SetAction(r => Translating(stderr, () => ExportCommand.RunInt8(r.GetValue(modelDir)!, r.GetValue(data), stdout, Imaging.ImageFolderDataset.ParseResize(r.GetValue(resize)!))));
        var presets = new Command("presets", "Print parameters, FLOPs per image and file size of each model preset (Markdown).");
        presets.SetAction(_ => ExportCommand.DescribePresets(stdout));
        var root = new RootCommand("Diffusion exporter: TorchSharp U-Net checkpoint -> ONNX.") { export, int8, presets };

        return CliHost.Run(root, args, stdout, stderr);
    }

    // Bad input and file-system failures are the CLI host's (exit 2); a module the exporter has no emitter for is a
    // limit of the exporter, not of the input: one line, exit 1.
    private static int Translating(TextWriter stderr, Action export)
    {
        try { export(); return 0; }
        catch (UnsupportedModuleException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}

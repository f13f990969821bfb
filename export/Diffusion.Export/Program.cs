using System.CommandLine;
using Diffusion.Export;
using Diffusion.Onnx;
using Diffusion.Runtime;

// export --checkpoint runs/<name>/checkpoints/last.ckpt --out models/<name> [--opset 17] [--no-ema]
var checkpoint = new Option<string>("--checkpoint")
{
    Description = "Training checkpoint to export (runs/<name>/checkpoints/last.ckpt).",
    DefaultValueFactory = _ => ExportCommand.DefaultCheckpoint,
};
var output = new Option<string?>("--out") { Description = "Output folder (default: models/<run name>)." };
var opset = new Option<int>("--opset")
{
    Description = $"ONNX opset, {OnnxOpset.Min}..{OnnxOpset.Max}.",
    DefaultValueFactory = _ => OnnxOpset.Default,
};
var noEma = new Option<bool>("--no-ema") { Description = "Export the raw trained weights instead of the EMA weights." };

var export = new Command("export", "Export a checkpoint to unet.onnx, unet-guided.onnx and a model card.") { checkpoint, output, opset, noEma };
export.SetAction(r => ExportCommand.Run(r.GetValue(checkpoint)!, r.GetValue(output), r.GetValue(opset), !r.GetValue(noEma), Console.Out, Console.Error));
var presets = new Command("presets", "Print parameters, FLOPs per image and file size of each model preset (Markdown).");
presets.SetAction(_ => ExportCommand.DescribePresets(Console.Out));
var root = new RootCommand("Diffusion exporter: TorchSharp U-Net checkpoint -> ONNX.") { export, presets };

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var e in parsed.Errors) Console.Error.WriteLine(e.Message);
    return InvalidInputException.ExitCode;
}
return parsed.Invoke();

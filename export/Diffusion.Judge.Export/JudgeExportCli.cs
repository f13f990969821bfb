using System.CommandLine;
using Diffusion.Judge;
using Diffusion.Export;
using Google.Protobuf;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Tools.Cli;
using Diffusion.Tools;

namespace Diffusion.Judge.Export;

/// <summary>The <c>export-classifier</c> command line (the Exe beside this library only calls <see cref="Run"/>).</summary>
public static class JudgeExportCli
{
    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        // export-classifier: judge checkpoint (train-classifier) -> judge.onnx (atomically).
        var checkpoint = new Option<string?>("--checkpoint") { Description = $"judge checkpoint (default runs/judge-<dataset>/{RunFolder.JudgeCheckpointName})" };
        var dataset = new Option<string>("--dataset") { Description = "mnist, fashion-mnist or an image folder's judge name (picks the default paths)", DefaultValueFactory = _ => "mnist" };
        var output = new Option<string?>("--out") { Description = $"ONNX file (default models/<dataset>/{ModelFolderLayout.JudgeOnnx})" };
        var opset = new Option<int>("--opset") { Description = "ONNX opset", DefaultValueFactory = _ => OnnxOpset.Default };

        var export = new Command("export-classifier", "Export a trained judge CNN to ONNX (image -> logits, probabilities, features)")
        {
            checkpoint, dataset, output, opset,
        };
        export.SetAction(pr =>
        {
            string name = JudgeDatasets.Normalize(pr.GetValue(dataset)!);
            string ckpt = pr.GetValue(checkpoint) ?? RunFolder.Judge(name).JudgeCheckpoint;
            string outPath = pr.GetValue(output) ?? Path.Combine(ModelFolderLayout.DefaultFolder(name), ModelFolderLayout.JudgeOnnx);
            using var judge = JudgeCheckpoint.Load(ckpt);
            var meta = JudgeExporter.MetadataOf(judge) with { ExportCommand = "make export-classifier" + (args.Length > 1 ? $" ARGS='{string.Join(' ', args.Skip(1))}'" : "") };
            var model = JudgeExporter.Build(judge.Model, meta, pr.GetValue(opset));
            AtomicFile.Write(outPath, model.WriteTo);
            Console.WriteLine($"wrote {outPath} ({new FileInfo(outPath).Length:N0} bytes): {judge.Info.Dataset} judge, "
                + $"TorchSharp test accuracy {judge.Info.TestAccuracy:P2}");
            return 0;
        });

        var root = new RootCommand("Judge exporter") { export };
        return CliHost.Run(root, args);
    }
}

using System.Globalization;
using Diffusion.Export.Emitters;
using Diffusion.Onnx;
using Diffusion.Runtime;
#if HAS_CHECKPOINT
using Diffusion.Train.Checkpoints;
#endif

namespace Diffusion.Export;

/// <summary>The <c>export</c> command: a thin layer that loads a checkpoint and calls <see cref="ModelFolder.Write"/>.</summary>
public static class ExportCommand
{
    /// <summary>Checkpoint of the default training config (<c>configs/mnist.json</c>, run "mnist").</summary>
    public const string DefaultCheckpoint = "runs/mnist/checkpoints/last.ckpt";

    /// <summary>Runs the export; returns the process exit code (0, 2 for bad input, 1 for an internal error).</summary>
    /// <param name="checkpointPath">Checkpoint file.</param>
    /// <param name="outDir">Output folder, or null for <c>models/&lt;run name&gt;</c>.</param>
    /// <param name="opset">ONNX opset.</param>
    /// <param name="ema">Export the EMA weights (default) or the raw ones.</param>
    /// <param name="stdout">Progress messages.</param>
    /// <param name="stderr">Errors.</param>
    public static int Run(string checkpointPath, string? outDir, int opset, bool ema, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            OnnxOpset.Validate(opset);
            var result = Export(checkpointPath, outDir, opset, ema);
            var inv = CultureInfo.InvariantCulture;
            foreach (var f in result.Files) stdout.WriteLine($"wrote {f}");
            stdout.WriteLine(string.Create(inv, $"{result.ParameterCount:N0} parameters; {result.UnetFlops.Total / 1e6:F1} MFLOPs per image (unet.onnx), {result.GuidedFlops.Total / 1e6:F1} (unet-guided.onnx)"));
            return 0;
        }
        catch (InvalidInputException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return InvalidInputException.ExitCode;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: cannot write the output folder: {e.Message}");
            return InvalidInputException.ExitCode;
        }
        catch (UnsupportedModuleException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

#if HAS_CHECKPOINT
    private static ExportResult Export(string checkpointPath, string? outDir, int opset, bool ema)
    {
        using var ck = Checkpoint.Load(checkpointPath);
        string name = ck.Config.Name;
        outDir ??= Path.Combine("models", name);
        var model = ema ? ck.Ema : ck.Model;
        model.eval();
        var source = new ExportSource(name, Path.GetFileName(checkpointPath), ck.Step, ck.Epoch);
        return ModelFolder.Write(model, ck.ToMetadata(GraphKind.Unet, ema), ck.ConfigJson, outDir, source, new ExportOptions { Opset = opset });
    }
#else
    private static ExportResult Export(string checkpointPath, string? outDir, int opset, bool ema)
        => throw new InvalidInputException($"{checkpointPath}: this build has no checkpoint loader yet (Diffusion.Train.Checkpoints is not merged).");
#endif
}

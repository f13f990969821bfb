using Diffusion.Tools;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Export;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Diffusion.Train.Training;
using TorchSharp;

namespace Diffusion.Benchmarks;

/// <summary>
/// The model under test: an exported folder (<c>unet.onnx</c>, <c>unet-guided.onnx</c>, <c>model-card.json</c>),
/// either the release model (<c>--model models/mnist</c>) or one exported here from a freshly initialised U-Net
/// (weights do not change speed). The TorchSharp side of every comparison is rebuilt from the same folder: the
/// architecture from the card's <c>unet_config</c>, every parameter from the ONNX initializer of the same
/// state_dict name, so both engines run identical weights.
/// </summary>
public static class BenchModel
{
    /// <summary>Folder of the release model, used when it exists and no --model is given.</summary>
    public const string ReleaseDir = "models/mnist";

    /// <summary>Training config of the release model.</summary>
    public const string ReleaseConfigFile = "configs/mnist.json";

    /// <summary>Preset and T of the release config (small / 1000 style), or medium / 1000 when the file is absent or has neither.</summary>
    public static (string Preset, int Timesteps) ReleaseConfig()
    {
        (string, int) fallback = ("medium", 1000);
        if (!File.Exists(ReleaseConfigFile)) return fallback;
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(ReleaseConfigFile), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            string preset = node?["preset"]?.GetValue<string>() ?? fallback.Item1;
            int t = node?["timesteps"]?.GetValue<int>() ?? fallback.Item2;
            return (preset, t);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return fallback; }
    }

    /// <summary>Exports a freshly initialised U-Net of <paramref name="preset"/> (seeded) into <paramref name="dir"/>.</summary>
    /// <param name="preset">small, medium or large.</param>
    /// <param name="timesteps">T written to the metadata (DDPM samples at T steps).</param>
    /// <param name="dir">Output folder (git-ignored, e.g. out/bench-models/medium).</param>
    /// <returns>What was written.</returns>
    public static ExportResult ExportUntrained(string preset, int timesteps, string dir)
    {
        torch.manual_seed(0);
        using var model = new UNet(UNetConfig.Preset(preset));   // its constructor initialises the GroupNorms (UNet.InitializeNorms)
        model.eval();
        var meta = new ModelMetadata
        {
            Dataset = "mnist",
            ClassNames = Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray(),
            Channels = model.Config.InChannels, Height = model.Config.ImageSize, Width = model.Config.ImageSize,
            NumClasses = model.Config.NumClasses, Prediction = PredictionType.Epsilon,
            Ema = false, ConfigSha256 = "untrained", SourceCommit = "untrained", Architecture = preset,
        }.WithSchedule(new ScheduleSpec(NoiseScheduleKind.Cosine, timesteps));
        var result = ModelFolder.Write(model, meta, null, dir, new ExportSource($"untrained-{preset}"));

        // and a 4-step student of it (guidance embedded, v prediction as make distill trains them), so the end-to-end
        // benchmark times the few-step path beside the samplers
        using var student = new UNet(UNetConfig.Preset(preset) with { GuidanceEmbedding = true });
        student.eval();
        string unetSha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, ModelFolderLayout.Unet))));
        const int steps = 4;
        var studentMeta = meta with
        {
            Prediction = PredictionType.V,
            Student = new StudentInfo(steps, Runtime.Samplers.TimestepSchedule.Create(timesteps, steps, Runtime.Samplers.TimestepSpacing.Trailing), 1, 6, unetSha),
        };
        AtomicFile.WriteAllBytes(Path.Combine(dir, ModelFolderLayout.StudentFile(steps, int8: false)),
            OnnxHelper.Serialize(UNetExporter.Build(student, studentMeta, GraphKind.Student)));
        StudentCard.Update(dir);
        return result;
    }

    /// <summary>The U-Net configuration stored in <c>model-card.json</c>.</summary>
    /// <exception cref="InvalidInputException">No card or no unet_config in it.</exception>
    public static UNetConfig ReadConfig(string modelDir) => ModelFolder.ReadUNetConfig(modelDir);

    /// <summary>
    /// A TorchSharp U-Net in eval mode with the weights of <c>unet.onnx</c>: each parameter is copied from the
    /// initializer named by its state_dict key (reshaped: the exporter stores GroupNorm's [C] as [C, 1, 1]).
    /// </summary>
    /// <exception cref="InvalidInputException">A parameter has no initializer or a different size.</exception>
    public static UNet LoadTorch(string modelDir)
    {
        string onnx = Path.Combine(modelDir, ModelFolderLayout.Unet);
        var graph = ExportCommand.LoadOnnx(onnx).Graph;
        var inits = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var model = new UNet(ReadConfig(modelDir));
        try
        {
            using var noGrad = torch.no_grad();
            foreach (var (name, p) in model.named_parameters())
            {
                if (!inits.TryGetValue(name, out var init))
                    throw new InvalidInputException($"{onnx}: no initializer '{name}' for the U-Net parameter of that name; was it exported from this architecture?");
                var data = OnnxHelper.ToFloatArray(init);
                if (data.LongLength != p.numel())
                    throw new InvalidInputException($"{onnx}: initializer '{name}' has {data.Length} values; the parameter [{string.Join(",", p.shape)}] needs {p.numel()}.");
                using var src = torch.tensor(data).reshape(p.shape);
                p.copy_(src);
            }
            model.eval();
            return model;
        }
        catch { model.Dispose(); throw; }
    }

    private static readonly Dictionary<string, ModelMetadata> s_metadata = new(StringComparer.Ordinal);

    /// <summary>Metadata of <c>unet.onnx</c> in <paramref name="modelDir"/> (read once per folder).</summary>
    public static ModelMetadata Metadata(string modelDir)
    {
        lock (s_metadata)
        {
            if (s_metadata.TryGetValue(modelDir, out var m)) return m;
            string onnx = Path.Combine(modelDir, ModelFolderLayout.Unet);
            m = ModelMetadata.FromProperties(OnnxHelper.Metadata(ExportCommand.LoadOnnx(onnx)), onnx);
            s_metadata[modelDir] = m;
            return m;
        }
    }

    /// <summary>FLOPs per image of unet.onnx for each U-Net preset (the trainer's count: the graph built in memory from fresh weights).</summary>
    public static IReadOnlyDictionary<string, long> PresetFlops()
        => new SortedDictionary<string, long>(
            new[] { "small", "medium", "large" }.ToDictionary(p => p, p => TrainBenchmark.ForwardFlopsPerImage(UNetConfig.Preset(p))), StringComparer.Ordinal);

    /// <summary>FLOPs per image of each graph, counted from the files (convolutions and matrix products, 2 per MAC).</summary>
    public static (FlopCount Unet, FlopCount Guided) CountFlops(string modelDir)
        => (FlopCounter.Count(ExportCommand.LoadOnnx(Path.Combine(modelDir, ModelFolderLayout.Unet))),
            FlopCounter.Count(ExportCommand.LoadOnnx(Path.Combine(modelDir, ModelFolderLayout.Guided))));
}

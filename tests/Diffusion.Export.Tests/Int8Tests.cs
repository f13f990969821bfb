using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Diffusion.Onnx;
using Diffusion.Onnx.Tests;
using Diffusion.Runtime;
using Diffusion.Runtime.Generation;
using Diffusion.Runtime.Onnx;
using Diffusion.Train.Checkpoints;
using Diffusion.Train.Config;
using Diffusion.Train.Model;
using Microsoft.ML.OnnxRuntime;
using ModelMetadata = Diffusion.Runtime.ModelMetadata;
using static Diffusion.Export.Tests.TestModels;
using Diffusion.Tools;
using Diffusion.Imaging;

namespace Diffusion.Export.Tests;

/// <summary>
/// The int8 graphs: export writes them beside the float32 ones (calibrated on IDX files), ONNX Runtime runs every
/// convolution but the stem as QLinearConv, their output stays within the stated bound of the float32 graph's, the
/// runtime picks them on the CPU by default, and a stale one is refused.
/// </summary>
public sealed class Int8Tests : CommandTestBase
{
    private string SaveCheckpoint(int seed) => SaveCheckpoint(
        new TrainConfig { Name = "int8-test", Preset = "small", Model = UNetConfig.Preset("small") }.Validate(), seed: seed, folder: $"run{seed}");

    private string Data() => IdxData();

    private int Export(string ck, bool int8, string? data) =>
        ExportCli.Run(["export", "--checkpoint", ck, "--out", Out, .. (int8 ? Array.Empty<string>() : ["--no-int8"]), .. (data is null ? Array.Empty<string>() : ["--data", data])], Stdout, Stderr);

    private static int OptimizedCount(string file, string op)
    {
        string optimized = file + ".opt.onnx";
        using (var so = new SessionOptions { IntraOpNumThreads = 1, OptimizedModelFilePath = optimized, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL })
        using (new InferenceSession(file, so)) { }
        int n = OnnxHelper.Load(optimized).Graph.Node.Count(nd => nd.OpType == op);
        File.Delete(optimized);
        return n;
    }

    [Fact]
    public void Export_writes_int8_graphs_that_run_as_QLinearConv_near_the_float32_graphs()
    {
        Assert.Equal(0, Export(SaveCheckpoint(11), int8: true, Data()));
        Assert.Equal(["model-card.json", "model-card.md", "unet-guided-int8.onnx", "unet-guided.onnx", "unet-int8.onnx", "unet.onnx"],
            Directory.GetFiles(Out).Select(Path.GetFileName).Order());
        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "model-card.json")))!;
        foreach (var (fl, q) in ModelFolderLayout.Int8Pairs)
        {
            string floatFile = Path.Combine(Out, fl), int8File = Path.Combine(Out, q);
            var meta = ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(int8File)), q);
            Assert.Equal(GraphPrecision.Int8, meta.Precision);
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(floatFile))), meta.QuantizedFrom);
            Assert.Equal(GraphPrecision.Float32, ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(floatFile)), fl).Precision);
            // every convolution but the stem is int8 once ONNX Runtime has fused the QDQ pattern
            int convs = OnnxHelper.Load(floatFile).Graph.Node.Count(n => n.OpType == "Conv");
            Assert.Equal(convs - 1, OptimizedCount(int8File, "QLinearConv"));
            var entry = card["int8"]!["graphs"]![q]!;
            Assert.Equal(convs - 1, entry["convolutions"]!.GetValue<int>());
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(int8File))), entry["sha256"]!.GetValue<string>());
            double rms = entry["parity"]!["relative_rms"]!.GetValue<double>();
            Assert.InRange(rms, 1e-4, Int8Quantizer.ParityBound); // really quantized, and near the float32 graph
            Assert.Equal("test", entry["parity"]!["split"]!.GetValue<string>());
        }
        string md = File.ReadAllText(Path.Combine(Out, "model-card.md"));
        Assert.Contains(ModelCard.Int8Begin, md);
        Assert.Contains("unet-guided-int8.onnx", md);

        // the runtime: int8 on the CPU by default, float32 on request
        using (var auto = DiffusionPipeline.Load(Out, new RuntimeOptions { IntraOpThreads = 1 })) Assert.Equal(GraphPrecision.Int8, auto.Precision);
        using (var fp = DiffusionPipeline.Load(Out, new RuntimeOptions { IntraOpThreads = 1, Precision = PrecisionMode.Float32 })) Assert.Equal(GraphPrecision.Float32, fp.Precision);
        Assert.Contains("int8", Stdout.ToString());
    }

    [Fact]
    public void Int8_graphs_pass_the_official_checker()
    {
        Assert.Equal(0, Export(SaveCheckpoint(21), int8: true, Data()));
        foreach (var (_, q) in ModelFolderLayout.Int8Pairs) OnnxChecker.Check(Path.Combine(Out, q));
    }

    [Fact]
    public void No_int8_removes_int8_graphs_of_an_earlier_export_and_the_runtime_falls_back_to_float32()
    {
        string data = Data();
        Assert.Equal(0, Export(SaveCheckpoint(31), int8: true, data));
        Assert.Equal(0, Export(SaveCheckpoint(41), int8: false, data));
        Assert.False(File.Exists(Path.Combine(Out, ModelFolderLayout.UnetInt8)));
        Assert.False(File.Exists(Path.Combine(Out, ModelFolderLayout.GuidedInt8)));
        using var auto = DiffusionPipeline.Load(Out, new RuntimeOptions { IntraOpThreads = 1 });
        Assert.Equal(GraphPrecision.Float32, auto.Precision);
        var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(Out, new RuntimeOptions { Precision = PrecisionMode.Int8 }));
        Assert.Contains("no int8 graphs", e.Message);
    }

    [Fact]
    public void A_stale_int8_graph_is_refused_by_the_runtime()
    {
        // an int8 graph of one export copied beside the float32 graphs of another (export itself never leaves one)
        string data = Data(), first = Path.Combine(Dir, "first");
        Assert.Equal(0, ExportCli.Run(["export", "--checkpoint", SaveCheckpoint(51), "--out", first, "--data", data], Stdout, Stderr));
        Assert.Equal(0, Export(SaveCheckpoint(61), int8: true, data));
        File.Copy(Path.Combine(first, ModelFolderLayout.UnetInt8), Path.Combine(Out, ModelFolderLayout.UnetInt8), overwrite: true);
        var e = Assert.Throws<InvalidInputException>(() => DiffusionPipeline.Load(Out, new RuntimeOptions { IntraOpThreads = 1 }));
        Assert.Contains("stale", e.Message);
        Assert.Contains(ModelFolderLayout.UnetInt8, e.Message);
        using var fp = DiffusionPipeline.Load(Out, new RuntimeOptions { IntraOpThreads = 1, Precision = PrecisionMode.Float32 });
        Assert.Equal(GraphPrecision.Float32, fp.Precision);
    }

    [Fact]
    public void A_missing_calibration_folder_exits_2_before_writing_anything()
    {
        string missing = Path.Combine(Dir, "no-data");
        Assert.Equal(InvalidInputException.ExitCode, Export(SaveCheckpoint(71), int8: true, missing));
        Assert.Contains(missing, Stderr.ToString());
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Without_data_the_default_export_warns_and_writes_float32_only()
    {
        // the default calibration folder is data/<dataset> under the working directory, which the test host lacks
        Assert.False(Directory.Exists(Path.Combine("data", "mnist")));
        Assert.Equal(0, Export(SaveCheckpoint(81), int8: true, null));
        Assert.Contains("warning", Stderr.ToString());
        Assert.False(File.Exists(Path.Combine(Out, ModelFolderLayout.UnetInt8)));
    }

    // The release models ship int8 graphs (and int8 students): the parity their cards state is what the files give (recomputed on the
    // same noised test images) and within the bound, and they were quantized from the float32 files beside them.
    [Theory]
    [InlineData("mnist")]
    [InlineData("fashion-mnist")]
    public void Release_int8_graphs_reproduce_their_card_and_stay_within_the_parity_bound(string name)
    {
        string root = RepoRoot(), model = Path.Combine(root, "models", name), data = Path.Combine(root, "data", name);
        var card = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "model-card.json")))!;
        var test = LabelledData.Load(data, DataSplit.Test, 10, 1, 28);
        // the teacher's graphs and the distilled students shipped beside them
        foreach (var (fl, q) in ModelFolderLayout.Int8Pairs.Concat(ModelFolderLayout.StudentPairs(model)))
        {
            byte[] f = File.ReadAllBytes(Path.Combine(model, fl)), i8 = File.ReadAllBytes(Path.Combine(model, q));
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(f)), ModelMetadata.FromProperties(OnnxHelper.Metadata(OnnxHelper.Load(Path.Combine(model, q))), q).QuantizedFrom);
            var entry = card["int8"]!["graphs"]![q]!;
            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(i8)), entry["sha256"]!.GetValue<string>());
            var parity = Int8Quantizer.MeasureParity(f, i8, test, "test", entry["parity"]!["images"]!.GetValue<int>());
            double stated = entry["parity"]!["relative_rms"]!.GetValue<double>();
            Assert.True(Math.Abs(parity.RelativeRms - stated) <= 1e-3 * stated + 1e-6, $"{name} {q}: measured {parity.RelativeRms:F6}, card {stated:F6}");
            Assert.True(parity.RelativeRms <= Int8Quantizer.ParityBound, $"{name} {q}: relative RMS {parity.RelativeRms:F4} over {Int8Quantizer.ParityBound}");
        }
        using var auto = DiffusionPipeline.Load(model, new RuntimeOptions { IntraOpThreads = 1 });
        Assert.Equal(GraphPrecision.Int8, auto.Precision);
        Assert.All(auto.Students.Values, s => Assert.Equal(GraphPrecision.Int8, s.Metadata.Precision));
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Pipeline.sln"))) return d.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }
}

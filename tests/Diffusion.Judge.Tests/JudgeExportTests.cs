using System.Diagnostics;
using Diffusion.Judge.Export;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;
using Diffusion.Tools;

namespace Diffusion.Judge.Tests;

public class JudgeExportTests(TrainedJudgeFixture judge) : IClassFixture<TrainedJudgeFixture>
{
    private static JudgeMetadata Meta(JudgeCnn m) => new()
    {
        Dataset = "mnist", ClassNames = JudgeDatasets.MnistClasses, FeatureDim = m.Config.FeatureDim, TestAccuracy = 0.5,
        Architecture = "test", TrainCommand = "(test)", ExportCommand = "(test)", SourceCommit = "test",
    };

    private string Export(out byte[] bytes)
    {
        var model = JudgeExporter.Build(judge.Model, Meta(judge.Model));
        string path = Path.Combine(Repo.TempDir(), "judge.onnx");
        OnnxHelper.Save(model, path);
        bytes = File.ReadAllBytes(path);
        return path;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void Onnx_runtime_matches_torchsharp(int n)
    {
        string path = Export(out _);
        using var scope = NewDisposeScope();
        var x = JudgeCnnTests.Images(judge.Test, 100, n);
        judge.Model.eval();
        Tensor logits, feats;
        using (no_grad()) (logits, feats) = judge.Model.ForwardWithFeatures(x);
        var probs = nn.functional.softmax(logits, 1);

        using var session = new InferenceSession(path);
        using var input = OrtValue.CreateTensorValueFromMemory(x.data<float>().ToArray(), [n, 1, 28, 28]);
        using var outputs = session.Run(new RunOptions(), [JudgeMetadata.ImageInput], [input],
            [JudgeMetadata.LogitsOutput, JudgeMetadata.ProbabilitiesOutput, JudgeMetadata.FeaturesOutput]);
        AssertClose(logits, outputs[0], [n, 10]);
        AssertClose(probs, outputs[1], [n, 10]);
        AssertClose(feats, outputs[2], [n, judge.Model.Config.FeatureDim]);
        var meta = JudgeMetadata.FromProperties(session.ModelMetadata.CustomMetadataMap, path);
        Assert.Equal("mnist", meta.Dataset);
        Assert.Equal(judge.Model.Config.FeatureDim, meta.FeatureDim);
    }

    private static void AssertClose(Tensor expected, OrtValue actual, long[] shape)
    {
        Assert.Equal(shape, actual.GetTensorTypeAndShape().Shape);
        var e = expected.data<float>().ToArray();
        var a = actual.GetTensorDataAsSpan<float>().ToArray();
        float max = e.Zip(a).Max(p => Math.Abs(p.First - p.Second));
        Assert.True(max <= 1e-4f, $"max abs difference {max}");
    }

    [Fact]
    public void Export_is_byte_identical_and_passes_the_official_checker()
    {
        string path = Export(out var first);
        Export(out var second);
        Assert.Equal(first, second);
        var (code, output) = Checker(path);
        Assert.True(code == 0, output);
    }

    [Fact]
    public void Training_mode_and_mismatched_metadata_are_refused()
    {
        using var model = new JudgeCnn(new JudgeConfig { Channels1 = 4, Channels2 = 8, FeatureDim = 16 });
        Assert.Throws<InvalidInputException>(() => JudgeExporter.Build(model, Meta(model) with { FeatureDim = 99 }));
        // Build puts the model in eval mode itself; a BatchNorm left in training mode by hand is refused by its emitter.
        var g = new GraphBuilder();
        var ctx = new Diffusion.Onnx.Torch.ExportContext(g, JudgeExporter.Emitters());
        model.train();
        var x = g.Input("image", Diffusion.Onnx.Proto.TensorProto.Types.DataType.Float, "batch", 1, 28, 28);
        var e = Assert.ThrowsAny<InvalidOperationException>(() => ctx.EmitRoot(model, x));
        Assert.Contains("bn1", e.Message);
    }

    /// <summary>The official ONNX checker (Debian's python3-onnx): full_check plus strict shape inference.</summary>
    private static (int Code, string Output) Checker(string path)
    {
        const string python = "/usr/bin/python3";
        const string script = "import sys, onnx\nfrom onnx import checker, shape_inference\nm = onnx.load(sys.argv[1])\n"
            + "checker.check_model(m, full_check=True)\nshape_inference.infer_shapes(m, check_type=True, strict_mode=True, data_prop=True)\nprint('ok')";
        if (!File.Exists(python)) Assert.Fail($"{python} not found: install python3-onnx (apt-get install -y python3-onnx) for the official ONNX checker.");
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-c", script, path }) psi.ArgumentList.Add(a);
        psi.Environment.Remove("PYTHONPATH");
        psi.Environment.Remove("PYTHONHOME");
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output + err.Result);
    }
}

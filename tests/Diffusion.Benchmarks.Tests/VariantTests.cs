using Diffusion.Benchmarks;

namespace Diffusion.Benchmarks.Tests;

public sealed class VariantTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"bench-variants-{Guid.NewGuid():N}");

    public VariantTests() => BenchModel.ExportUntrained("small", 100, Path.Combine(_dir, "model"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(GraphVariant.Baseline)]
    [InlineData(GraphVariant.LayerNorm)]
    [InlineData(GraphVariant.LayerNormFolded)]
    [InlineData(GraphVariant.Moments)]
    [InlineData(GraphVariant.LayerNormBn)]
    [InlineData(GraphVariant.Folded)]
    public void VariantsComputeTheSameFunction(GraphVariant variant)
    {
        string model = Path.Combine(_dir, "model"), dir = Path.Combine(_dir, variant.ToString());
        GraphVariants.Export(model, variant, dir);
        var (unet, guided) = Diffusion.Benchmarks.SuiteRunner.Parity(dir, 1);
        Assert.True(unet < 1e-4, $"unet max |diff| {unet}");
        Assert.True(guided < 1e-4, $"guided max |diff| {guided}");
    }

    // The int8 probe must be what it claims to time: ONNX Runtime fuses every Conv into QLinearConv (no float
    // convolution left), and the graph still runs end to end.
    [Fact]
    public void Int8Probe_RunsAsQLinearConv()
    {
        string model = Path.Combine(_dir, "model"), dir = Path.Combine(_dir, "int8");
        GraphVariants.Export(model, GraphVariant.Int8SpeedProbe, dir);
        var (_, optimized, wall) = OrtProfile.Run(ModelFiles.Unet(dir), batch: 2, runs: 1, threads: 1);
        int convs = Diffusion.Onnx.OnnxHelper.Load(ModelFiles.Unet(model)).Graph.Node.Count(n => n.OpType == "Conv");
        Assert.Equal(convs, optimized.GetValueOrDefault("QLinearConv"));
        Assert.False(optimized.ContainsKey("Conv"), string.Join(", ", optimized.Select(kv => $"{kv.Key} x{kv.Value}")));
        Assert.True(wall > 0);
    }

    // The int8 experiment writes a complete model folder whose graphs ONNX Runtime runs with QLinearConv only, and
    // whose outputs stay near the float model's on inputs like the calibration ones (here a random-pixel dataset).
    [Fact]
    public void Int8Experiment_QuantizesEveryConvolution_AndStaysNearTheFloatModel()
    {
        string model = Path.Combine(_dir, "model"), dir = Path.Combine(_dir, "int8q");
        var rng = new Random(3);
        var pixels = new byte[64 * 784];
        rng.NextBytes(pixels);
        var labels = Enumerable.Range(0, 64).Select(i => (byte)(i % 10)).ToArray();
        string images = Path.Combine(_dir, "images-idx3-ubyte"), labelFile = Path.Combine(_dir, "labels-idx1-ubyte");
        Diffusion.Runtime.Idx.Write(images, [64, 28, 28], pixels);
        Diffusion.Runtime.Idx.Write(labelFile, [64], labels);
        var ds = Diffusion.Runtime.IdxDataset.Load(images, labelFile);
        var done = Int8Experiment.Quantize(model, dir, ds, rounds: 2, batch: 8);
        int convs = Diffusion.Onnx.OnnxHelper.Load(ModelFiles.Unet(model)).Graph.Node.Count(n => n.OpType == "Conv");
        Assert.Equal(convs, done["unet.onnx"]);
        Assert.True(File.Exists(Path.Combine(dir, "model-card.json")));
        var (_, optimized, _) = OrtProfile.Run(ModelFiles.Guided(dir), batch: 2, runs: 1, threads: 1);
        Assert.Equal(convs, optimized.GetValueOrDefault("QLinearConv"));
        var inputs = new StepInputs(BenchModel.Metadata(model), 4);
        using var f = new OrtStep(ModelFiles.Unet(model), inputs, OrtStep.Options(1));
        using var q = new OrtStep(ModelFiles.Unet(dir), inputs, OrtStep.Options(1));
        f.Run(); q.Run();
        double err = 0, norm = 0;
        for (int i = 0; i < f.Output.Length; i++) { err += Math.Pow(f.Output[i] - q.Output[i], 2); norm += Math.Pow(f.Output[i], 2); }
        Assert.True(Math.Sqrt(err / norm) < 0.2, $"relative error {Math.Sqrt(err / norm):F3}");
    }
}

using Diffusion.Benchmarks;
using Diffusion.Runtime;

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
        var (_, optimized, wall) = OrtProfile.Run(Path.Combine(dir, ModelFolderLayout.Unet), batch: 2, runs: 1, threads: 1);
        int convs = Diffusion.Onnx.OnnxHelper.Load(Path.Combine(model, ModelFolderLayout.Unet)).Graph.Node.Count(n => n.OpType == "Conv");
        Assert.Equal(convs, optimized.GetValueOrDefault("QLinearConv"));
        Assert.False(optimized.ContainsKey("Conv"), string.Join(", ", optimized.Select(kv => $"{kv.Key} x{kv.Value}")));
        Assert.True(wall > 0);
    }
}

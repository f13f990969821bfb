using Diffusion.Benchmarks;
using Diffusion.Runtime;

namespace Diffusion.Benchmarks.Tests;

/// <summary>The TorchSharp side of every comparison runs the weights of the ONNX files (loaded by state_dict name).</summary>
public sealed class ParityTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"bench-parity-{Guid.NewGuid():N}");

    public ParityTests() => BenchModel.ExportUntrained("small", 100, _dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TorchAndOrtComputeTheSameStep(bool guided)
    {
        var inputs = new StepInputs(BenchModel.Metadata(_dir), 3);
        using var ort = new OrtStep(guided ? Path.Combine(_dir, ModelFolderLayout.Guided) : Path.Combine(_dir, ModelFolderLayout.Unet), inputs, OrtStep.Options(1));
        using var torch = new TorchStep(_dir, inputs, 1, guided);
        ort.Run();
        torch.Run();
        var o = ort.Output.ToArray();
        var t = torch.Output.ToArray();
        Assert.All(o, v => Assert.True(float.IsFinite(v)));
        Assert.True(o.Select(Math.Abs).Max() > 1e-3, "the output should not be all zeros");
        double max = o.Zip(t, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(max < 1e-4, $"max |ort - torch| = {max}");
    }

    [Fact]
    public void WeightsComeFromTheOnnxFile()
    {
        using var loaded = BenchModel.LoadTorch(_dir);
        TorchSharp.torch.manual_seed(99);
        using var fresh = new Diffusion.Train.Model.UNet(BenchModel.ReadConfig(_dir));
        var init = Diffusion.Onnx.OnnxHelper.Load(Path.Combine(_dir, ModelFolderLayout.Unet)).Graph.Initializer.ToDictionary(t => t.Name);
        foreach (var (name, p) in loaded.named_parameters())
            Assert.Equal(Diffusion.Onnx.OnnxHelper.ToFloatArray(init[name]), p.data<float>().ToArray());
        var f = fresh.named_parameters().First(p => p.name == "conv_in.weight").parameter.data<float>().ToArray();
        Assert.NotEqual(f, loaded.named_parameters().First(p => p.name == "conv_in.weight").parameter.data<float>().ToArray());
        var (unet, guided) = BenchModel.CountFlops(_dir);
        Assert.Equal(2 * unet.Total, guided.Total);
    }

    [Fact]
    public void PresetFlops_CountTheExportedGraph()
    {
        var presets = BenchModel.PresetFlops();
        Assert.Equal(["large", "medium", "small"], presets.Keys);
        Assert.Equal(BenchModel.CountFlops(_dir).Unet.Total, presets["small"]);       // _dir holds the small preset's export
        Assert.True(presets["small"] < presets["medium"] && presets["medium"] < presets["large"]);
    }
}

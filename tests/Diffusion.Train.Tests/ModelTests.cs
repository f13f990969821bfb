using Diffusion.Train.Model;
using static TorchSharp.torch;

namespace Diffusion.Train.Tests;

public class ModelTests
{
    [Theory]
    [InlineData("small", 1)]
    [InlineData("small", 7)]
    [InlineData("medium", 1)]
    [InlineData("medium", 7)]
    [InlineData("large", 1)]
    [InlineData("large", 7)]
    public void Forward_GivesInputShape_ForEveryPreset_WithNullClass(string preset, int batch)
    {
        random.manual_seed(3);
        using var model = new UNet(UNetConfig.Preset(preset));
        model.eval();
        using var _ = no_grad();
        using var x = randn(batch, 1, 28, 28);
        using var t = randint(0, 1000, [batch], dtype: int64);
        // labels cycle through every class and the null class (index = NumClasses)
        using var y = tensor(Enumerable.Range(0, batch).Select(i => (long)(batch == 1 ? 10 : i * 2 % 11)).ToArray());
        using var output = model.forward(x, t, y);
        Assert.Equal(new long[] { batch, 1, 28, 28 }, output.shape);
        Assert.False(output.isnan().any().item<bool>() || output.isinf().any().item<bool>());
        Assert.True(output.std().item<float>() > 1e-4, "output should depend on the input");
    }

    [Fact]
    public void GroupNorms_StartAsIdentityAffine()
    {
        using var model = new UNet(UNetConfig.Preset("small"));
        var norms = model.named_parameters().Where(p => p.name.Contains("norm")).ToArray();
        Assert.NotEmpty(norms);
        foreach (var (name, p) in norms)
            Assert.Equal(name.EndsWith("weight") ? 1f : 0f, p.data<float>().ToArray().Distinct().Single());
    }

    [Fact]
    public void ClassLabel_ChangesTheOutput()
    {
        random.manual_seed(5);
        using var model = new UNet(UNetConfig.Preset("small"));
        model.eval();
        using var _ = no_grad();
        using var x = randn(1, 1, 28, 28);
        using var t = tensor(new long[] { 500 });
        using var a = model.forward(x, t, tensor(new long[] { 3 }));
        using var b = model.forward(x, t, tensor(new long[] { 10 }));
        Assert.True((a - b).abs().max().item<float>() > 0);
    }
}

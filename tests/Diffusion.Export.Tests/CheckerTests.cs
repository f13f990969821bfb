using Diffusion.Onnx.Tests;
using Xunit.Abstractions;

namespace Diffusion.Export.Tests;

/// <summary>Every exported graph passes the official ONNX checker (full_check, strict shape inference).</summary>
public class CheckerTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("small")]
    [InlineData("medium")]
    [InlineData("large")]
    public void Exported_graphs_pass_the_official_checker(string preset)
    {
        var m = TestModels.Get(preset);
        string dir = Directory.CreateTempSubdirectory($"export-check-{preset}").FullName;
        try
        {
            foreach (var (name, bytes) in new[] { ("unet.onnx", m.Unet), ("unet-guided.onnx", m.Guided) })
            {
                string path = Path.Combine(dir, name);
                File.WriteAllBytes(path, bytes);
                output.WriteLine($"{preset} {name}: {OnnxChecker.Check(path)}");
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}

using System.Globalization;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Xunit.Abstractions;
using static Diffusion.Export.Tests.TestModels;

namespace Diffusion.Export.Tests;

/// <summary>
/// TorchSharp (eval mode) against ONNX Runtime on CPU for every preset (large has attention): batch 1 and 7,
/// t in {0, T/2, T-1}, every class and the null class, max abs difference at most 1e-4.
/// </summary>
public class ParityTests(ITestOutputHelper output)
{
    private const float Bound = 1e-4f;

    /// <summary>(t, y) batches: two of 7 covering labels 0..10 at all three t, and three of 1.</summary>
    public static IEnumerable<(long[] T, long[] Y)> Cases(int numClasses)
    {
        long mid = T / 2, last = T - 1, nul = numClasses;
        yield return ([0, mid, last, 0, mid, last, mid], [0, 1, 2, 3, 4, 5, 6]);
        yield return ([last, 0, mid, last, 0, mid, 0], [7, 8, 9, nul, 3, nul, 1]);
        yield return ([0], [nul]);
        yield return ([mid], [4]);
        yield return ([last], [9]);
    }

    [Theory]
    [InlineData("small")]
    [InlineData("medium")]
    [InlineData("large")]
    public void Unet_graph_matches_TorchSharp(string preset)
    {
        var m = Get(preset);
        var cfg = m.Model.Config;
        using var ort = new OrtModel(m.Unet, cfg);
        float worst = 0, scaleOfOutputs = 0;
        int seed = 0;
        foreach (var (t, y) in Cases(cfg.NumClasses))
        {
            var x = Noise(t.Length * cfg.InChannels * cfg.ImageSize * cfg.ImageSize, ++seed);
            var want = Torch(m.Model, x, t, y);
            var got = ort.Run(x, t, y);
            worst = Math.Max(worst, MaxAbsDiff(want, got));
            scaleOfOutputs = Math.Max(scaleOfOutputs, want.Max(Math.Abs));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{preset}: unet.onnx max |onnx - torch| = {worst:E2} (outputs up to {scaleOfOutputs:F2})"));
        Assert.True(scaleOfOutputs > 0.1f, "outputs are near zero: parity would be trivial");
        Assert.True(worst <= Bound, $"{preset}: max abs diff {worst} > {Bound}");
    }

    [Theory]
    [InlineData("small")]
    [InlineData("large")]
    public void Student_graph_matches_TorchSharp_with_the_scale_as_input(string preset)
    {
        var cfg = UNetConfig.Preset(preset) with { GuidanceEmbedding = true };
        using var model = RandomModel(cfg, seed: 77);
        var graph = Diffusion.Onnx.OnnxHelper.Serialize(UNetExporter.Build(model, Metadata(cfg), GraphKind.Student));
        using var ort = new OrtModel(graph, cfg);
        Assert.Equal(["x", "t", "y", "scale"], ort.Session.InputMetadata.Keys.ToArray());
        Assert.Equal("unet-student", ort.Session.ModelMetadata.CustomMetadataMap["diffusion.graph"]);
        float worst = 0, byScale = 0;
        int seed = 200;
        float[][] scales = [[0f, 1f, 1.5f, 3f, 7.5f, 0.25f, 2f], [4f, 0f, 1f, 2.5f, 6f, 1f, 5f], [3f], [1f], [8f]];
        int k = 0;
        foreach (var (t, y) in Cases(cfg.NumClasses))
        {
            var scale = scales[k++];
            var x = Noise(t.Length * cfg.InChannels * cfg.ImageSize * cfg.ImageSize, ++seed);
            var want = Torch(model, x, t, y, scale);
            worst = Math.Max(worst, MaxAbsDiff(want, ort.Run(x, t, y, scale)));
            byScale = Math.Max(byScale, MaxAbsDiff(want, Torch(model, x, t, y, scale.Select(v => v + 1).ToArray())));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{preset}: unet-student.onnx max |onnx - torch| = {worst:E2} (scale + 1 moves outputs by up to {byScale:F3})"));
        Assert.True(byScale > 0.01f, "the scale does not change the output: the test would not see a wrong guidance embedding");
        Assert.True(worst <= Bound, $"{preset}: max abs diff {worst} > {Bound}");
    }

    [Fact]
    public void Student_and_plain_graphs_are_refused_for_the_other_kind_of_UNet()
    {
        var cfg = UNetConfig.Preset("small") with { GuidanceEmbedding = true };
        using var student = RandomModel(cfg, seed: 78);
        var e = Assert.Throws<InvalidInputException>(() => UNetExporter.Build(student, Metadata(cfg), GraphKind.Guided));
        Assert.Contains("guidance-conditioned student", e.Message);
        e = Assert.Throws<InvalidInputException>(() => UNetExporter.Build(Get("small").Model, Metadata(UNetConfig.Preset("small")), GraphKind.Student));
        Assert.Contains("guidance_embedding", e.Message);
        Assert.Throws<InvalidOperationException>(() => Torch(student, new float[784], [0], [0]));
    }

    [Fact]
    public void A_new_student_starts_as_its_teacher()
    {
        // the guidance embedding's last layer starts at zero: copy a teacher's weights in, and the student's output
        // is the teacher's conditional output at any scale
        var teacherCfg = UNetConfig.Preset("small");
        using var teacher = RandomModel(teacherCfg, seed: 79);
        using var student = new UNet(teacherCfg with { GuidanceEmbedding = true });
        using (TorchSharp.torch.no_grad())
            foreach (var (name, p) in teacher.named_parameters()) student.get_parameter(name)!.copy_(p);
        student.eval();
        var x = Noise(3 * 784, 5);
        long[] t = [10, 500, 990], y = [1, 2, 10];
        Assert.Equal(0f, MaxAbsDiff(Torch(teacher, x, t, y), Torch(student, x, t, y, [1f, 3f, 7f])));
    }

    [Theory]
    [InlineData("small")]
    [InlineData("medium")]
    [InlineData("large")]
    public void Guided_graph_matches_guidance_from_two_TorchSharp_calls(string preset)
    {
        var m = Get(preset);
        var cfg = m.Model.Config;
        using var ort = new OrtModel(m.Guided, cfg);
        float worst = 0, gap = 0;
        int seed = 100;
        float[][] scales = [[0f, 1f, 1.5f, 3f, 7.5f, 0.25f, 2f], [4f, 0f, 1f, 2.5f, 6f, 1f, 5f], [3f], [1f], [0f]];
        int k = 0;
        foreach (var (t, y) in Cases(cfg.NumClasses))
        {
            var scale = scales[k++];
            var x = Noise(t.Length * cfg.InChannels * cfg.ImageSize * cfg.ImageSize, ++seed);
            var cond = Torch(m.Model, x, t, y);
            var uncond = Torch(m.Model, x, t, Enumerable.Repeat((long)cfg.NumClasses, t.Length).ToArray());
            int per = cond.Length / t.Length;
            var want = new float[cond.Length];
            for (int i = 0; i < t.Length; i++)
                Guidance.Combine(cond.AsSpan(i * per, per), uncond.AsSpan(i * per, per), scale[i], want.AsSpan(i * per, per));
            var got = ort.Run(x, t, y, scale);
            worst = Math.Max(worst, MaxAbsDiff(want, got));
            gap = Math.Max(gap, MaxAbsDiff(cond, uncond));
        }
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{preset}: unet-guided.onnx max |onnx - torch guidance| = {worst:E2} (cond vs uncond differ by up to {gap:F3})"));
        Assert.True(gap > 0.01f, "conditional and unconditional outputs are the same: guidance would be trivial");
        Assert.True(worst <= Bound, $"{preset}: max abs diff {worst} > {Bound}");
    }

    [Theory]
    [InlineData(18)]
    [InlineData(23)]
    public void Higher_opsets_compute_the_same(int opset)
    {
        var m = Get("small");
        var cfg = m.Model.Config;
        var (unet, guided) = UNetExporter.BuildBoth(m.Model, m.Metadata, new ExportOptions { Opset = opset });
        Assert.Equal(opset, unet.OpsetImport[0].Version);
        using var plain = new OrtModel(Diffusion.Onnx.OnnxHelper.Serialize(unet), cfg);
        using var guide = new OrtModel(Diffusion.Onnx.OnnxHelper.Serialize(guided), cfg);
        var (t, y) = Cases(cfg.NumClasses).First();
        var x = Noise(t.Length * cfg.ImageSize * cfg.ImageSize, 5);
        var cond = Torch(m.Model, x, t, y);
        var uncond = Torch(m.Model, x, t, Enumerable.Repeat((long)cfg.NumClasses, t.Length).ToArray());
        Assert.True(MaxAbsDiff(cond, plain.Run(x, t, y)) <= Bound);
        var want = cond.Zip(uncond, (c, u) => u + 2f * (c - u)).ToArray();
        Assert.True(MaxAbsDiff(want, guide.Run(x, t, y, Enumerable.Repeat(2f, t.Length).ToArray())) <= Bound);
    }
}

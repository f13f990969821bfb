using Diffusion.Onnx.Proto;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Onnx.Tests;

/// <summary>
/// A tiny CNN built with the builder (Conv, Relu, MaxPool, Flatten, Gemm, Softmax) checked three ways: the official
/// checker accepts it, ONNX Runtime runs it at two batch sizes with the numbers of a plain C# reference, and
/// building it twice gives the same bytes.
/// </summary>
public class TinyModelTests
{
    private const int C = 2, H = 6, W = 6, K = 3, F = 4, Classes = 5;

    private sealed record Weights(float[] ConvW, float[] ConvB, float[] FcW, float[] FcB);

    private static Weights MakeWeights()
    {
        var rng = new Random(7);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        return new Weights(R(F * C * K * K), R(F), R(Classes * F * 3 * 3), R(Classes));
    }

    private static ModelProto Build(Weights w, int opset = OnnxOpset.Default)
    {
        var g = new GraphBuilder(opset);
        var x = g.Input("x", DataType.Float, "batch", C, H, W);
        GraphValue h;
        using (g.PushScope("conv"))
            h = g.Relu(g.Conv(x, g.Initializer("conv.weight", w.ConvW, F, C, K, K), g.Initializer("conv.bias", w.ConvB, F), [1, 1], [1, 1, 1, 1], [1, 1]));
        h = g.MaxPool(h, [2, 2], [2, 2], [0, 0, 0, 0]);                     // [N, F, 3, 3]
        h = g.Flatten(h);                                                  // [N, F*9]
        using (g.PushScope("fc"))
            h = g.Gemm(h, g.Initializer("fc.weight", w.FcW, Classes, F * 9), g.Initializer("fc.bias", w.FcB, Classes), transB: true);
        g.Output(g.Softmax(h, 1), "probs");
        return g.BuildModel("tiny", [new("k", "v")], docString: "tiny test model");
    }

    private static float[] Reference(Weights w, float[] x, int n)
    {
        var probs = new float[n * Classes];
        for (int b = 0; b < n; b++)
        {
            var conv = new float[F, H, W];
            for (int f = 0; f < F; f++)
                for (int i = 0; i < H; i++)
                    for (int j = 0; j < W; j++)
                    {
                        float s = w.ConvB[f];
                        for (int c = 0; c < C; c++)
                            for (int di = 0; di < K; di++)
                                for (int dj = 0; dj < K; dj++)
                                {
                                    int ii = i + di - 1, jj = j + dj - 1;
                                    if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
                                    s += w.ConvW[((f * C + c) * K + di) * K + dj] * x[((b * C + c) * H + ii) * W + jj];
                                }
                        conv[f, i, j] = Math.Max(s, 0);
                    }
            var flat = new float[F * 9];
            for (int f = 0; f < F; f++)
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++)
                        flat[(f * 3 + i) * 3 + j] = new[] { conv[f, 2 * i, 2 * j], conv[f, 2 * i + 1, 2 * j], conv[f, 2 * i, 2 * j + 1], conv[f, 2 * i + 1, 2 * j + 1] }.Max();
            var logits = new double[Classes];
            for (int k = 0; k < Classes; k++)
            {
                double s = w.FcB[k];
                for (int q = 0; q < flat.Length; q++) s += w.FcW[k * flat.Length + q] * flat[q];
                logits[k] = s;
            }
            double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
            for (int k = 0; k < Classes; k++) probs[b * Classes + k] = (float)(Math.Exp(logits[k] - max) / sum);
        }
        return probs;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Runs_in_onnx_runtime_with_the_reference_numbers(int batch)
    {
        var w = MakeWeights();
        var rng = new Random(batch);
        var x = Enumerable.Range(0, batch * C * H * W).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var bytes = OnnxHelper.Serialize(Build(w));
        var got = Ort.Run(bytes, [new Ort.Input("x", x, [batch, C, H, W])], "probs")[0];
        var want = Reference(w, x, batch);
        Assert.Equal(want.Length, got.Length);
        Assert.True(want.Zip(got).Max(p => Math.Abs(p.First - p.Second)) < 1e-5f);
    }

    [Fact]
    public void Passes_the_official_checker_and_builds_byte_identical()
    {
        var w = MakeWeights();
        byte[] a = OnnxHelper.Serialize(Build(w)), b = OnnxHelper.Serialize(Build(w));
        Assert.Equal(a, b);
        string dir = Directory.CreateTempSubdirectory("tiny-onnx").FullName;
        try
        {
            string path = Path.Combine(dir, "tiny.onnx");
            OnnxHelper.Save(Build(w), path);
            Assert.Equal(a, File.ReadAllBytes(path));
            Assert.StartsWith("ok", OnnxChecker.Check(path));
            var loaded = OnnxHelper.Load(path);
            Assert.Equal("v", OnnxHelper.Metadata(loaded)["k"]);
            Assert.Equal("tiny test model", loaded.DocString);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void The_checker_test_can_fail()
    {
        // A Conv whose weight has the wrong channel count: built by hand, bypassing the builder's own shape checks.
        var graph = OnnxHelper.MakeGraph(
            [OnnxHelper.MakeNode("Relu", ["x"], ["y"], "relu"), OnnxHelper.MakeNode("NoSuchOp", ["y"], ["z"], "bad")], "bad",
            [OnnxHelper.MakeValueInfo("x", DataType.Float, ["batch", 2])], [OnnxHelper.MakeValueInfo("z", DataType.Float, ["batch", 2])]);
        string dir = Directory.CreateTempSubdirectory("bad-onnx").FullName;
        try
        {
            string path = Path.Combine(dir, "bad.onnx");
            OnnxHelper.Save(OnnxHelper.MakeModel(graph), path);
            var e = Assert.ThrowsAny<Exception>(() => OnnxChecker.Check(path));
            Assert.Contains("NoSuchOp", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void Flop_counter_counts_conv_and_gemm_per_image()
    {
        var counted = FlopCounter.Count(Build(MakeWeights()));
        long conv = 2L * F * H * W * C * K * K, gemm = 2L * Classes * F * 9;
        Assert.Equal(conv, counted.ByOpType["Conv"]);
        Assert.Equal(gemm, counted.ByOpType["Gemm"]);
        Assert.Equal(conv + gemm, counted.Total);
    }

    [Fact]
    public void Value_info_shapes_match_what_onnx_runtime_computes()
    {
        var model = Build(MakeWeights());
        var x = new float[2 * C * H * W];
        foreach (var vi in model.Graph.ValueInfo.Concat(model.Graph.Output))
        {
            // expose each intermediate as an output and compare ONNX Runtime's shape with the declared one at batch 2
            var m2 = model.Clone();
            m2.Graph.Output.Clear();
            m2.Graph.Output.Add(vi);
            var shape = Ort.OutputShape(OnnxHelper.Serialize(m2), [new Ort.Input("x", x, [2, C, H, W])], vi.Name);
            var declared = OnnxHelper.ShapeOf(vi).Select(d => d.IsFixed ? d.Size : 2 * d.Coefficient).ToArray();
            Assert.Equal(declared, shape);
        }
    }
}

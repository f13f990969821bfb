using System.Runtime.InteropServices;
using Diffusion.Export;
using Diffusion.Onnx.Proto;
using Google.Protobuf;
using Diffusion.Runtime;
using Microsoft.ML.OnnxRuntime;
using static Diffusion.Onnx.OnnxHelper;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;

namespace Diffusion.Benchmarks;

/// <summary>
/// Experiment, not a product path: int8 convolutions for a model folder. Every Conv of unet.onnx and
/// unet-guided.onnx becomes the QDQ pattern ONNX Runtime fuses into QLinearConv: uint8 input and output with
/// per-tensor scales calibrated on forward-noised training images (x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,
/// t uniform, 10% null labels; min / max of every conv input and output over 256 images), int8 weights per output
/// channel (max |w| / 127), int32 bias at scale s_x s_w. The other files of the folder are copied, so the gate and
/// the step benchmarks run on the result as on any model folder. Used by the <c>quantize</c> command.
/// </summary>
public static class Int8Experiment
{
    /// <summary>Writes the quantized copy of <paramref name="src"/> to <paramref name="dst"/>, calibrated on <paramref name="ds"/>.</summary>
    /// <returns>Convolutions quantized per file.</returns>
    public static IReadOnlyDictionary<string, int> Quantize(string src, string dst, IdxDataset ds, int rounds = 8, int batch = 32)
    {
        Directory.CreateDirectory(dst);
        foreach (var f in Directory.GetFiles(src))
            if (!f.EndsWith(".onnx", StringComparison.Ordinal) || f.EndsWith("judge.onnx", StringComparison.Ordinal)) File.Copy(f, Path.Combine(dst, Path.GetFileName(f)), true);
        var done = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var file in new[] { ModelFolder.UnetFile, ModelFolder.GuidedFile })
            done[file] = QuantizeFile(Path.Combine(src, file), Path.Combine(dst, file), ds, rounds, batch);
        return done;
    }

    private static int QuantizeFile(string srcFile, string dstFile, IdxDataset ds, int rounds, int n)
    {
        var model = Load(srcFile);
        var meta = Diffusion.Runtime.ModelMetadata.FromProperties(Metadata(model), srcFile);
        var ab = meta.CreateSchedule().AlphasCumprod;
        bool guided = meta.Graph == GraphKind.Guided;
        int size = meta.Channels * meta.Height * meta.Width;
        var convs = model.Graph.Node.Where(nd => nd.OpType == "Conv").ToList();
        // 1. calibration graph: every conv input and output as an extra output
        var cal = model.Clone();
        var names = convs.SelectMany(nd => new[] { nd.Input[0], nd.Output[0] }).Distinct().ToList();
        foreach (var nm in names) cal.Graph.Output.Add(new ValueInfoProto { Name = nm, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        var min = names.ToDictionary(nm => nm, _ => 0f);
        var max = names.ToDictionary(nm => nm, _ => 0f);
        using (var so = new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR })
        using (var sess = new InferenceSession(cal.ToByteArray(), so))
        {
            var rng = new Random(1);
            for (int round = 0; round < rounds; round++)
            {
                var x = new float[n * size]; var t = new long[n]; var y = new long[n]; var sc = Enumerable.Repeat(3f, n).ToArray();
                for (int i = 0; i < n; i++)
                {
                    int k = rng.Next(ds.Count);
                    t[i] = rng.Next(meta.Timesteps);
                    y[i] = rng.NextDouble() < 0.1 ? meta.NumClasses : ds.Labels.Data[k];
                    double a = ab[t[i]];
                    for (int p = 0; p < size; p++)
                    {
                        double eps = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                        x[i * size + p] = (float)(Math.Sqrt(a) * Pixels.ToModel(ds.Images.Data[k * size + p]) + Math.Sqrt(1 - a) * eps);
                    }
                }
                var inputs = new Dictionary<string, OrtValue>(StringComparer.Ordinal)
                {
                    ["x"] = OrtValue.CreateTensorValueFromMemory(x, [n, meta.Channels, meta.Height, meta.Width]),
                    ["t"] = OrtValue.CreateTensorValueFromMemory(t, [n]),
                    ["y"] = OrtValue.CreateTensorValueFromMemory(y, [n]),
                };
                if (guided) inputs["scale"] = OrtValue.CreateTensorValueFromMemory(sc, [n]);
                try
                {
                    using var ro = new RunOptions();
                    using var outs = sess.Run(ro, inputs, names);
                    for (int j = 0; j < names.Count; j++)
                    {
                        float lo = min[names[j]], hi = max[names[j]];
                        foreach (float v in outs[j].GetTensorDataAsSpan<float>()) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
                        min[names[j]] = lo; max[names[j]] = hi;
                    }
                }
                finally { foreach (var v in inputs.Values) v.Dispose(); }
            }
        }
        (float S, byte Z) Range(string nm)
        {
            float s = Math.Max((max[nm] - min[nm]) / 255f, 1e-8f);
            return (s, (byte)Math.Clamp(Math.Round(-min[nm] / s), 0, 255));
        }
        // 2. rewrite each Conv as the QDQ pattern
        var g = model.Graph;
        var inits = g.Initializer.ToDictionary(i => i.Name);
        var newNodes = new List<NodeProto>();
        int idx = 0;
        foreach (var node in g.Node)
        {
            if (node.OpType != "Conv") { newNodes.Add(node); continue; }
            string p = $"q{idx++}";
            var (sx, zx) = Range(node.Input[0]); var (sy, zy) = Range(node.Output[0]);
            var wt = inits[node.Input[1]]; var w = ToFloatArray(wt); long[] wd = wt.Dims.ToArray(); int cout = (int)wd[0];
            float[] b = node.Input.Count > 2 && node.Input[2] != "" ? ToFloatArray(inits[node.Input[2]]) : new float[cout];
            var (wq, sw, bq, sb) = QuantizeWeights(w, b, sx);
            g.Initializer.Add(MakeRawTensor($"{p}.wq", DataType.Int8, MemoryMarshal.AsBytes(wq.AsSpan()), wq.Length, wd));
            g.Initializer.Add(MakeRawTensor($"{p}.wz", DataType.Int8, new byte[cout], cout, cout));
            g.Initializer.Add(MakeRawTensor($"{p}.bq", DataType.Int32, MemoryMarshal.AsBytes(bq.AsSpan()), cout, cout));
            g.Initializer.Add(MakeRawTensor($"{p}.bz", DataType.Int32, new byte[4 * cout], cout, cout));
            g.Initializer.Add(MakeTensor($"{p}.ws", sw, cout)); g.Initializer.Add(MakeTensor($"{p}.bs", sb, cout));
            g.Initializer.Add(MakeTensor($"{p}.xs", [sx])); g.Initializer.Add(MakeTensor($"{p}.ys", [sy]));
            g.Initializer.Add(MakeRawTensor($"{p}.xz", DataType.Uint8, [zx], 1)); g.Initializer.Add(MakeRawTensor($"{p}.yz", DataType.Uint8, [zy], 1));
            var axis = new[] { MakeAttribute("axis", 0L) };
            newNodes.Add(MakeNode("QuantizeLinear", [node.Input[0], $"{p}.xs", $"{p}.xz"], [$"{p}.xq"], $"{p}.qx"));
            newNodes.Add(MakeNode("DequantizeLinear", [$"{p}.xq", $"{p}.xs", $"{p}.xz"], [$"{p}.xd"], $"{p}.dqx"));
            newNodes.Add(MakeNode("DequantizeLinear", [$"{p}.wq", $"{p}.ws", $"{p}.wz"], [$"{p}.wd"], $"{p}.dqw", axis));
            newNodes.Add(MakeNode("DequantizeLinear", [$"{p}.bq", $"{p}.bs", $"{p}.bz"], [$"{p}.bd"], $"{p}.dqb", axis));
            var conv = node.Clone(); conv.Input.Clear(); conv.Input.Add([$"{p}.xd", $"{p}.wd", $"{p}.bd"]); conv.Output.Clear(); conv.Output.Add($"{p}.y");
            newNodes.Add(conv);
            newNodes.Add(MakeNode("QuantizeLinear", [$"{p}.y", $"{p}.ys", $"{p}.yz"], [$"{p}.yq"], $"{p}.qy"));
            newNodes.Add(MakeNode("DequantizeLinear", [$"{p}.yq", $"{p}.ys", $"{p}.yz"], [node.Output[0]], $"{p}.dqy"));
        }
        g.Node.Clear(); g.Node.Add(newNodes);
        // drop float conv weights no longer used
        var used = new HashSet<string>(g.Node.SelectMany(n => n.Input));
        var keep = g.Initializer.Where(i => used.Contains(i.Name)).ToList(); g.Initializer.Clear(); g.Initializer.Add(keep);
        AtomicFile.WriteAllBytes(dstFile, model.ToByteArray());
        return convs.Count;
    }

    /// <summary>
    /// Conv weights [C_out, ...] to int8 per output channel (scale max |w| / 127, zero point 0) and the bias to int32 at
    /// scale s_x s_w (what QLinearConv needs for a bias).
    /// </summary>
    public static (sbyte[] Wq, float[] Sw, int[] Bq, float[] Sb) QuantizeWeights(float[] w, float[] b, float sx)
    {
        int cout = b.Length, per = w.Length / cout;
        var sw = new float[cout]; var wq = new sbyte[w.Length]; var bq = new int[cout]; var sb = new float[cout];
        for (int c = 0; c < cout; c++)
        {
            var row = w.AsSpan(c * per, per);
            float mx = 1e-8f;
            foreach (float v in row) mx = Math.Max(mx, Math.Abs(v));
            sw[c] = mx / 127f;
            for (int i = 0; i < per; i++) wq[c * per + i] = (sbyte)Math.Clamp(MathF.Round(row[i] / sw[c]), -127, 127);
            sb[c] = sx * sw[c];
            bq[c] = (int)MathF.Round(b[c] / sb[c]);
        }
        return (wq, sw, bq, sb);
    }
}

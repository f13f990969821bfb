using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Diffusion.Onnx.Proto;
using Diffusion.Runtime;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using ModelMetadata = Diffusion.Runtime.ModelMetadata;
using static Diffusion.Onnx.OnnxHelper;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using Diffusion.Tools;
using Diffusion.Imaging;

namespace Diffusion.Export;

/// <summary>How far an int8 graph's output is from its float32 graph's on the same inputs.</summary>
/// <param name="RelativeRms">sqrt(sum (q - f)^2 / sum f^2) over every output element.</param>
/// <param name="MaxAbs">Largest |q - f|.</param>
/// <param name="Images">Images compared (x_t from noised images of <paramref name="Split"/>).</param>
/// <param name="Split">IDX split the images came from ("test", or "train" when the folder has no test split).</param>
public sealed record Int8Parity(double RelativeRms, double MaxAbs, int Images, string Split);

/// <summary>One quantized graph.</summary>
/// <param name="Model">The int8 graph (metadata: precision int8, quantized_from = SHA-256 of the float32 file).</param>
/// <param name="Convolutions">Convolutions rewritten (all but the stem).</param>
/// <param name="Parity">Its per-step difference from the float32 graph.</param>
public sealed record Int8Graph(ModelProto Model, int Convolutions, Int8Parity Parity);

/// <summary>
/// Post-training static int8 quantization of an exported graph (<see cref="GraphPrecision.Int8"/>). Every Conv becomes
/// the QDQ pattern that ONNX Runtime's CPU provider fuses into QLinearConv:
/// 1. calibration: the float32 graph runs on <see cref="CalibrationImages"/> forward-noised training images
///    (x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, DDPM eq. 4; t uniform, 10% null labels, guidance scale 3; a distilled
///    student's t from its own timesteps and the scale clamped into its range) with every
///    conv input and output as an extra output; each tensor's range is [min(0, lo), max(0, hi)] over all of them;
/// 2. activations: uint8 with scale (hi - lo) / 255 and the zero point that maps 0 exactly;
/// 3. weights: int8 per output channel, scale max |w| / 127, zero point 0; bias: int32 at scale s_x s_w;
/// 4. parity: the int8 and float32 graphs run on <see cref="ParityImages"/> noised images of the test split (other
///    images and noise than calibration) and the difference is recorded (<see cref="Int8Parity"/>).
/// The stem convolution (the one that reads x_t) and everything else (normalisation, attention, SiLU, guidance) stay
/// float32. Deterministic: the same inputs give
/// byte-identical files.
/// </summary>
public static class Int8Quantizer
{
    /// <summary>Noised training images behind the activation ranges.</summary>
    public const int CalibrationImages = 256;
    /// <summary>Noised test images behind <see cref="Int8Parity"/>.</summary>
    public const int ParityImages = 128;
    /// <summary>Guidance scale of the guided graph's calibration and parity inputs (the pipeline's usual setting).</summary>
    public const float Scale = 3f;
    /// <summary>
    /// The most relative RMS difference per model call that the exporter accepts for an int8 graph (it refuses to write
    /// one further from its float32 graph). The release models measure 0.03-0.09 (model cards); the guided graph's
    /// output, uncond + s (cond - uncond), carries each pass's error times about s.
    /// </summary>
    public const double ParityBound = 0.15;
    private const int Batch = 32, CalibrationSeed = 1, ParitySeed = 2;

    /// <summary>Quantizes <paramref name="floatBytes"/> (a serialized <c>unet.onnx</c>, <c>unet-guided.onnx</c> or <c>unet-student-N.onnx</c>).</summary>
    /// <param name="floatBytes">The float32 graph file's bytes.</param>
    /// <param name="calibration">Training split for the activation ranges.</param>
    /// <param name="parity">Held-out split for the parity check, and its name.</param>
    /// <param name="calibrationImages">Images for calibration (tests use fewer).</param>
    /// <param name="parityImages">Images for the parity check.</param>
    public static Int8Graph Quantize(byte[] floatBytes, LabelledImages calibration, (LabelledImages Data, string Split) parity,
        int calibrationImages = CalibrationImages, int parityImages = ParityImages)
    {
        var model = ModelProto.Parser.ParseFrom(floatBytes);
        var meta = ModelMetadata.FromProperties(Metadata(model), "float32 graph");
        if (meta.Precision != GraphPrecision.Float32) throw new InvalidInputException("The graph to quantize is already int8; quantize the float32 graph.");
        // the stem convolution reads x_t itself, whose range changes with t (noise at t = T, pixels at t = 0): it stays
        // float32 (measured on the MNIST release model: relative RMS 7.7% -> 3.4% per step; it is 1 input channel, <1% of the FLOPs)
        // (nodes are in topological order, so the stem is the first Conv; the guided graph feeds it [x; x])
        var all = model.Graph.Node.Where(nd => nd.OpType == "Conv").ToList();
        var weights = model.Graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        bool stem = all.Count > 0 && weights.TryGetValue(all[0].Input[1], out var w0) && w0.Dims.Count == 4 && w0.Dims[1] == meta.Channels;
        var convs = all.Skip(stem ? 1 : 0).ToList();
        var quantized = new HashSet<NodeProto>(convs, ReferenceEqualityComparer.Instance);
        var names = convs.SelectMany(nd => new[] { nd.Input[0], nd.Output[0] }).Distinct(StringComparer.Ordinal).ToList();

        // 1. calibration graph: every conv input and output as an extra output
        var cal = model.Clone();
        foreach (var nm in names)
            cal.Graph.Output.Add(new ValueInfoProto { Name = nm, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
        var lo = names.ToDictionary(nm => nm, _ => 0f, StringComparer.Ordinal);
        var hi = names.ToDictionary(nm => nm, _ => 0f, StringComparer.Ordinal);
        using (var sess = Session(cal.ToByteArray()))
        {
            foreach (var outs in Run(sess, meta, calibration, calibrationImages, CalibrationSeed, names))
                using (outs)
                    for (int j = 0; j < names.Count; j++)
                    {
                        float l = lo[names[j]], h = hi[names[j]];
                        foreach (float v in outs[j].GetTensorDataAsSpan<float>()) { l = Math.Min(l, v); h = Math.Max(h, v); }
                        lo[names[j]] = l; hi[names[j]] = h;
                    }
        }
        // 2. uint8 activation scale and zero point of a tensor
        (float S, byte Z) Range(string nm)
        {
            float s = Math.Max((hi[nm] - lo[nm]) / 255f, 1e-8f);
            return (s, (byte)Math.Clamp(Math.Round(-lo[nm] / s), 0, 255));
        }
        // 3. rewrite each Conv as the QDQ pattern
        var g = model.Graph;
        var inits = g.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var nodes = new List<NodeProto>();
        int idx = 0;
        foreach (var node in g.Node)
        {
            if (!quantized.Contains(node)) { nodes.Add(node); continue; }
            string p = $"int8_{idx++}";
            var (sx, zx) = Range(node.Input[0]); var (sy, zy) = Range(node.Output[0]);
            var wt = inits[node.Input[1]]; var w = ToFloatArray(wt); long[] wd = [.. wt.Dims]; int cout = (int)wd[0];
            float[] b = node.Input.Count > 2 && node.Input[2].Length > 0 ? ToFloatArray(inits[node.Input[2]]) : new float[cout];
            var (wq, sw, bq, sb) = QuantizeWeights(w, b, sx);
            g.Initializer.Add(MakeRawTensor($"{p}.wq", DataType.Int8, MemoryMarshal.AsBytes(wq.AsSpan()), wq.Length, wd));
            g.Initializer.Add(MakeRawTensor($"{p}.wz", DataType.Int8, new byte[cout], cout, cout));
            g.Initializer.Add(MakeRawTensor($"{p}.bq", DataType.Int32, MemoryMarshal.AsBytes(bq.AsSpan()), cout, cout));
            g.Initializer.Add(MakeRawTensor($"{p}.bz", DataType.Int32, new byte[4 * cout], cout, cout));
            g.Initializer.Add(MakeTensor($"{p}.ws", sw, cout)); g.Initializer.Add(MakeTensor($"{p}.bs", sb, cout));
            g.Initializer.Add(MakeTensor($"{p}.xs", [sx])); g.Initializer.Add(MakeTensor($"{p}.ys", [sy]));
            g.Initializer.Add(MakeRawTensor($"{p}.xz", DataType.Uint8, [zx], 1)); g.Initializer.Add(MakeRawTensor($"{p}.yz", DataType.Uint8, [zy], 1));
            var axis = new[] { MakeAttribute("axis", 0L) };
            nodes.Add(MakeNode("QuantizeLinear", [node.Input[0], $"{p}.xs", $"{p}.xz"], [$"{p}.xq"], $"{p}.qx"));
            nodes.Add(MakeNode("DequantizeLinear", [$"{p}.xq", $"{p}.xs", $"{p}.xz"], [$"{p}.xd"], $"{p}.dqx"));
            nodes.Add(MakeNode("DequantizeLinear", [$"{p}.wq", $"{p}.ws", $"{p}.wz"], [$"{p}.wd"], $"{p}.dqw", axis));
            nodes.Add(MakeNode("DequantizeLinear", [$"{p}.bq", $"{p}.bs", $"{p}.bz"], [$"{p}.bd"], $"{p}.dqb", axis));
            var conv = node.Clone();
            conv.Input.Clear(); conv.Input.Add([$"{p}.xd", $"{p}.wd", $"{p}.bd"]);
            conv.Output.Clear(); conv.Output.Add($"{p}.y");
            nodes.Add(conv);
            nodes.Add(MakeNode("QuantizeLinear", [$"{p}.y", $"{p}.ys", $"{p}.yz"], [$"{p}.yq"], $"{p}.qy"));
            nodes.Add(MakeNode("DequantizeLinear", [$"{p}.yq", $"{p}.ys", $"{p}.yz"], [node.Output[0]], $"{p}.dqy"));
        }
        g.Node.Clear(); g.Node.Add(nodes);
        var used = new HashSet<string>(g.Node.SelectMany(n => n.Input), StringComparer.Ordinal);
        var keep = g.Initializer.Where(i => used.Contains(i.Name)).ToList();
        g.Initializer.Clear(); g.Initializer.Add(keep);
        var props = (meta with { Precision = GraphPrecision.Int8, QuantizedFrom = Convert.ToHexStringLower(SHA256.HashData(floatBytes)) }).ToProperties();
        model.MetadataProps.Clear();
        model.MetadataProps.AddRange(props.Select(kv => new StringStringEntryProto { Key = kv.Key, Value = kv.Value }));

        // 4. parity on held-out images
        var parityResult = Compare(meta, floatBytes, model.ToByteArray(), parity.Data, parity.Split, parityImages);
        return new Int8Graph(model, convs.Count, parityResult);
    }

    /// <summary>Runs both graphs on the same noised images of <paramref name="data"/> and compares their outputs.</summary>
    public static Int8Parity MeasureParity(byte[] floatBytes, byte[] int8Bytes, LabelledImages data, string split, int images = ParityImages)
        => Compare(ModelMetadata.FromProperties(Metadata(ModelProto.Parser.ParseFrom(floatBytes)), "float32 graph"), floatBytes, int8Bytes, data, split, images);

    private static Int8Parity Compare(ModelMetadata meta, byte[] floatBytes, byte[] int8Bytes, LabelledImages data, string split, int images)
    {
        using var f = Session(floatBytes);
        using var q = Session(int8Bytes);
        string output = f.OutputNames[0];
        double err = 0, norm = 0, maxAbs = 0;
        using var fe = Run(f, meta, data, images, ParitySeed, [output]).GetEnumerator();
        using var qe = Run(q, meta, data, images, ParitySeed, [output]).GetEnumerator();
        while (fe.MoveNext() && qe.MoveNext())
        {
            using var fo = fe.Current; using var qo = qe.Current;
            var a = fo[0].GetTensorDataAsSpan<float>(); var b = qo[0].GetTensorDataAsSpan<float>();
            for (int i = 0; i < a.Length; i++)
            {
                double d = b[i] - a[i];
                err += d * d; norm += (double)a[i] * a[i]; maxAbs = Math.Max(maxAbs, Math.Abs(d));
            }
        }
        return new Int8Parity(Math.Sqrt(err / Math.Max(norm, 1e-30)), maxAbs, images, split);
    }

    /// <summary>
    /// Conv weights [C_out, ...] to int8 per output channel (scale max |w| / 127, zero point 0) and the bias to int32
    /// at scale s_x s_w (what QLinearConv needs for a bias).
    /// </summary>
    public static (sbyte[] Wq, float[] Sw, int[] Bq, float[] Sb) QuantizeWeights(float[] w, float[] b, float sx)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(b);
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

    private static InferenceSession Session(byte[] bytes)
    {
        using var so = new SessionOptions { IntraOpNumThreads = Diffusion.Runtime.Onnx.Hardware.PhysicalCores, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        // parity is measured with the kernels every CPU computes alike (no 16-bit saturation on CPUs without VNNI)
        Diffusion.Runtime.Onnx.ExactInt8.Apply(so);
        return new InferenceSession(bytes, so);
    }

    // Batches of forward-noised images of ds (ForwardProcess, DDPM eq. 4), t uniform in [0, T), the default share of
    // null labels; yields the outputs.
    private static IEnumerable<IDisposableReadOnlyCollection<OrtValue>> Run(InferenceSession sess, ModelMetadata meta, LabelledImages ds, int images, int seed, IReadOnlyList<string> outputs)
    {
        var schedule = meta.CreateSchedule();
        // a guided graph and a student take a scale; a student only ever sees its own timesteps, at a scale it learned
        bool scaled = meta.Graph is GraphKind.Guided or GraphKind.Student;
        var grid = meta.Student?.Timesteps;
        float scale = meta.Student is { } st ? (float)Math.Clamp(Scale, st.MinScale, st.MaxScale) : Scale;
        int size = meta.Channels * meta.Height * meta.Width;
        if (ds.ImageSize != size)
            throw new InvalidInputException($"{ds.Source}: calibration images are [{ds.Channels}, {ds.Height}, {ds.Width}]; the model expects [{meta.Channels}, {meta.Height}, {meta.Width}].");
        var rng = new Random(seed);
        for (int done = 0; done < images; done += Batch)
        {
            int n = Math.Min(Batch, images - done);
            var x = new float[n * size]; var t = new long[n]; var y = new long[n]; var sc = Enumerable.Repeat(scale, n).ToArray();
            var eps = new float[size];
            var x0 = new float[size];
            for (int i = 0; i < n; i++)
            {
                int k = rng.Next(ds.Count);
                t[i] = grid is { Count: > 0 } ? grid[rng.Next(grid.Count)] : rng.Next(meta.Timesteps);
                y[i] = rng.NextDouble() < ForwardProcess.DefaultNullLabelRate ? meta.NumClasses : ds.Labels[k];
                GaussianNoise.Fill((ulong)seed, done + i, 0, eps);
                for (int p = 0; p < size; p++) x0[p] = Pixels.ToModel(ds.Pixels[k * size + p]);
                ForwardProcess.SampleExact(schedule, (int)t[i], x0, eps, x.AsSpan(i * size, size));
            }
            var inputs = new Dictionary<string, OrtValue>(StringComparer.Ordinal)
            {
                [UNetSignature.X] = OrtValue.CreateTensorValueFromMemory(x, [n, meta.Channels, meta.Height, meta.Width]),
                [UNetSignature.T] = OrtValue.CreateTensorValueFromMemory(t, [n]),
                [UNetSignature.Y] = OrtValue.CreateTensorValueFromMemory(y, [n]),
            };
            if (scaled) inputs[UNetSignature.Scale] = OrtValue.CreateTensorValueFromMemory(sc, [n]);
            try
            {
                using var ro = new RunOptions();
                yield return sess.Run(ro, inputs, outputs);
            }
            finally { foreach (var v in inputs.Values) v.Dispose(); }
        }
    }
}

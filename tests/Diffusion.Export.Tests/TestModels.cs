using System.Collections.Concurrent;
using Diffusion.Onnx;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Microsoft.ML.OnnxRuntime;
using ModelMetadata = Diffusion.Runtime.ModelMetadata;
using TorchSharp;
using static TorchSharp.torch;

namespace Diffusion.Export.Tests;

/// <summary>A preset U-Net with randomised weights, in eval mode, and its two exported graphs.</summary>
public sealed record ExportedModel(string Preset, UNet Model, ModelMetadata Metadata, byte[] Unet, byte[] Guided);

/// <summary>Builds each preset once per test run (export is the slow part) and shares it between test classes.</summary>
public static class TestModels
{
    /// <summary>T used in test metadata.</summary>
    public const int T = 1000;

    private static readonly ConcurrentDictionary<string, Lazy<ExportedModel>> Cache = new();

    /// <summary>The preset's model and graphs at opset 17.</summary>
    public static ExportedModel Get(string preset) => Cache.GetOrAdd(preset, p => new Lazy<ExportedModel>(() => Create(p))).Value;

    /// <summary>
    /// A U-Net whose every parameter is drawn from a generator seeded with <paramref name="seed"/> (not the global
    /// one, which test classes running in parallel share): conv and linear weights N(0, 1/fan_in), the label
    /// embedding N(0, 1), GroupNorm scales 1 + N(0, 0.05^2), biases and shifts N(0, 0.05^2). No layer sits at a
    /// special value (unit scale, zero bias) that would make parity easier than with trained weights.
    /// </summary>
    public static UNet RandomModel(UNetConfig config, long seed)
    {
        var model = new UNet(config);
        using var gen = new torch.Generator((ulong)seed, torch.CPU);
        using (torch.no_grad())
            foreach (var (name, p) in model.named_parameters())
            {
                using var scope = torch.NewDisposeScope();
                var z = torch.randn(p.shape, generator: gen);
                bool norm = name.Split('.')[^2].StartsWith("norm", StringComparison.Ordinal);
                // Scalars held, not implicit: TorchSharp 0.107 lets a GC free an implicit one mid-call (train/Optim/AdamW.cs)
                using Scalar one = 1.0.ToScalar(), small = 0.05.ToScalar(), fan = (1.0 / Math.Sqrt(p.numel() / p.shape[0])).ToScalar();
                p.copy_(name == "label_emb.weight" ? z
                    : p.dim() >= 2 ? z.mul(fan)
                    : norm && name.EndsWith(".weight", StringComparison.Ordinal) ? z.mul(small).add(one)
                    : z.mul(small));
            }
        model.eval();
        return model;
    }

    /// <summary>Metadata of an MNIST-like model for <paramref name="config"/>.</summary>
    public static ModelMetadata Metadata(UNetConfig config) => new()
    {
        Dataset = "mnist",
        ClassNames = Enumerable.Range(0, config.NumClasses).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
        Channels = config.InChannels,
        Height = config.ImageSize,
        Width = config.ImageSize,
        NumClasses = config.NumClasses,
        Timesteps = T,
        Schedule = NoiseScheduleKind.Cosine,
        ScheduleParameters = new NoiseSchedule(NoiseScheduleKind.Cosine, T).Parameters,
        Prediction = PredictionType.Epsilon,
        Ema = true,
        ConfigSha256 = new string('0', 64),
        SourceCommit = "test",
        Architecture = "test",
    };

    private static ExportedModel Create(string preset)
    {
        var config = UNetConfig.Preset(preset);
        var model = RandomModel(config, seed: 1234);
        var meta = Metadata(config);
        var (unet, guided) = UNetExporter.BuildBoth(model, meta);
        return new ExportedModel(preset, model, meta, OnnxHelper.Serialize(unet), OnnxHelper.Serialize(guided));
    }

    /// <summary>
    /// TorchSharp forward in eval mode without gradients: x [N, C, H, W], t [N], y [N] (and a student's scale [N]) to
    /// [N, C, H, W] floats.
    /// </summary>
    public static float[] Torch(UNet model, float[] x, long[] t, long[] y, float[]? scale = null)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var c = model.Config;
        var xt = torch.tensor(x, [t.Length, c.InChannels, c.ImageSize, c.ImageSize]);
        return model.forward(xt, torch.tensor(t), torch.tensor(y), scale is null ? null : torch.tensor(scale)).data<float>().ToArray();
    }

    /// <summary>Standard normal inputs from a seeded generator.</summary>
    public static float[] Noise(int count, int seed)
    {
        var rng = new Random(seed);
        var r = new float[count];
        for (int i = 0; i < count; i++)
            r[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return r;
    }

    /// <summary>max |a - b|.</summary>
    public static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}

/// <summary>An ONNX Runtime CPU session over an exported graph, run through OrtValues.</summary>
public sealed class OrtModel : IDisposable
{
    private readonly InferenceSession session;
    private readonly int c, size;

    /// <summary>Loads the model bytes.</summary>
    public OrtModel(byte[] model, UNetConfig config)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        session = new InferenceSession(model, options);
        (c, size) = (config.InChannels, config.ImageSize);
    }

    /// <summary>The session (metadata, inputs, outputs).</summary>
    public InferenceSession Session => session;

    /// <summary>Runs the graph; <paramref name="scale"/> only for unet-guided.onnx.</summary>
    public float[] Run(float[] x, long[] t, long[] y, float[]? scale = null)
    {
        long n = t.Length;
        var names = new List<string> { "x", "t", "y" };
        var values = new List<OrtValue>
        {
            OrtValue.CreateTensorValueFromMemory(x, [n, c, size, size]),
            OrtValue.CreateTensorValueFromMemory(t, [n]),
            OrtValue.CreateTensorValueFromMemory(y, [n]),
        };
        if (scale is not null)
        {
            names.Add("scale");
            values.Add(OrtValue.CreateTensorValueFromMemory(scale, [n]));
        }
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, names, values, ["out"]);
            Assert.Equal([n, c, size, size], outputs[0].GetTensorTypeAndShape().Shape);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <inheritdoc/>
    public void Dispose() => session.Dispose();
}

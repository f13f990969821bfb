using Diffusion.Onnx;
using Diffusion.Runtime;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using Diffusion.Tools;

namespace Diffusion.Eval.Tests;

/// <summary>
/// Crafted data and tiny ONNX models (built with Diffusion.Onnx) whose behaviour is known exactly:
/// class k is a bright 6 x 6 block at its own place on a dark 28 x 28 background; the judge scores each class by
/// the pixels of its block (a template matcher); the diffusion model predicts the class template itself. The colour
/// forms (channels = 3) repeat the template in every channel plane: the same task, through every colour code path.
/// </summary>
internal static class Tiny
{
    public const int K = 10, H = 28, W = 28, Size = H * W, Features = 16, T = 100;
    public static readonly string[] Classes = Enumerable.Range(0, K).Select(k => $"c{k}").ToArray();

    /// <summary>True when pixel (r, c) lies in class k's block.</summary>
    public static bool InBlock(int k, int r, int c)
    {
        int r0 = 2 + 9 * (k / 4), c0 = 1 + 7 * (k % 4);
        return r >= r0 && r < r0 + 6 && c >= c0 && c < c0 + 6;
    }

    /// <summary>Template of class k in model space, [C, H, W] (every plane the same); k = K gives the mean template (null class).</summary>
    public static float[] Template(int k, int channels)
    {
        var plane = Template(k);
        var t = new float[channels * Size];
        for (int c = 0; c < channels; c++) plane.CopyTo(t, c * Size);
        return t;
    }

    /// <summary>Template of class k in model space (block +1, background -1); k = K gives the mean template (null class).</summary>
    public static float[] Template(int k)
    {
        var t = new float[Size];
        for (int r = 0; r < H; r++)
            for (int c = 0; c < W; c++)
                t[r * W + c] = k == K
                    ? Enumerable.Range(0, K).Average(j => InBlock(j, r, c) ? 1f : -1f)
                    : InBlock(k, r, c) ? 1f : -1f;
        return t;
    }

    /// <summary>n images per class: template plus Gaussian noise of <paramref name="noise"/>, clamped, class-major.</summary>
    public static ImageSet Images(int perClass, double noise, int seed, Func<int, int>? labelOf = null, int channels = 1)
    {
        var rng = new Random(seed);
        int size = channels * Size;
        var px = new float[K * perClass * size];
        var labels = new int[K * perClass];
        for (int k = 0, i = 0; k < K; k++)
        {
            var t = Template(k, channels);
            for (int j = 0; j < perClass; j++, i++)
            {
                labels[i] = labelOf?.Invoke(k) ?? k;
                for (int p = 0; p < size; p++)
                {
                    double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                    px[i * size + p] = Math.Clamp((float)(t[p] + noise * g), -1f, 1f);
                }
            }
        }
        // through bytes, as IDX files and PNGs hold them
        var bytes = new byte[px.Length];
        Pixels.ToBytes(px, bytes);
        Pixels.ToModel(bytes, px);
        return new ImageSet(px, labels, H, W, "crafted", channels);
    }

    /// <summary>Writes crafted colour images as an image folder: &lt;dir&gt;/{train,test}/c0..c9/*.png (RGB).</summary>
    public static string ImageFolder(int trainPerClass = 20, int testPerClass = 10)
    {
        string dir = TempDir();
        foreach (var (split, set) in new[] { ("train", Images(trainPerClass, 0.3, 1, channels: 3)), ("test", Images(testPerClass, 0.3, 2, channels: 3)) })
        {
            var bytes = new byte[set.Pixels.Length];
            Pixels.ToBytes(set.Pixels, bytes);
            for (int i = 0; i < set.Count; i++)
            {
                string path = Path.Combine(dir, split, Classes[set.Labels[i]], $"{i:D4}.png");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, global::Diffusion.Imaging.PngGrid.Encode(set.Image(i).ToArray(), 1, 1, H, W, pad: 0, channels: 3));
            }
        }
        return dir;
    }

    private static readonly Lazy<string> s_root = new(() =>
    {
        string root = Path.Combine(Path.GetTempPath(), "diffusion-eval-tests", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { } };
        return root;
    });

    /// <summary>A new empty folder under this test process's temp root (deleted when the process exits).</summary>
    public static string TempDir()
    {
        string dir = Path.Combine(s_root.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Writes a data folder with train and t10k IDX files of crafted images.</summary>
    public static string DataFolder(int trainPerClass = 40, int testPerClass = 30)
    {
        string dir = TempDir();
        Images(trainPerClass, 0.3, 1).WriteIdx(Path.Combine(dir, "train-images-idx3-ubyte"), Path.Combine(dir, "train-labels-idx1-ubyte"));
        Images(testPerClass, 0.3, 2).WriteIdx(Path.Combine(dir, "t10k-images-idx3-ubyte"), Path.Combine(dir, "t10k-labels-idx1-ubyte"));
        return dir;
    }

    /// <summary>
    /// Template-matching judge: logits_k = 0.1 * (sum of the pixels in block k) (3.6 for the right class of a clean
    /// image, -3.6 for the others); probabilities = softmax; features = relu(P x) with a fixed random P [F, 784].
    /// </summary>
    public static Diffusion.Onnx.Proto.ModelProto Judge(string dataset = "tiny", int[]? classOfBlock = null, int channels = 1)
    {
        var g = new GraphBuilder();
        int size = channels * Size;
        var image = g.Input(JudgeMetadata.ImageInput, DataType.Float, "batch", channels, H, W);
        var wLogits = new float[K * size];
        for (int k = 0; k < K; k++)
        {
            int block = classOfBlock?[k] ?? k;
            for (int ch = 0; ch < channels; ch++)
                for (int r = 0; r < H; r++) for (int c = 0; c < W; c++) if (InBlock(block, r, c)) wLogits[k * size + ch * Size + r * W + c] = 0.1f / channels;
        }
        var rng = new Random(7);
        var wFeat = Enumerable.Range(0, Features * size).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.1f).ToArray();
        var flat = g.Flatten(image, 1);
        var logits = g.Gemm(flat, g.Initializer("w_logits", wLogits, K, size), g.Initializer("b_logits", new float[K], K), transB: true);
        var probs = g.Softmax(logits, 1);
        var feats = g.Relu(g.Gemm(flat, g.Initializer("w_features", wFeat, Features, size), null, transB: true));
        g.Output(logits, JudgeMetadata.LogitsOutput);
        g.Output(probs, JudgeMetadata.ProbabilitiesOutput);
        g.Output(feats, JudgeMetadata.FeaturesOutput);
        var meta = new JudgeMetadata
        {
            Dataset = dataset, ClassNames = Classes, FeatureDim = Features, TestAccuracy = 1, Architecture = "template matcher", Channels = channels,
            TrainCommand = "(test)", SourceCommit = "test",
        };
        return g.BuildModel("judge", meta.ToProperties());
    }

    /// <summary>Features the tiny judge gives an image, computed in C# (for checking the ML.NET pipeline).</summary>
    public static float[] JudgeFeatures(ReadOnlySpan<float> image)
    {
        var rng = new Random(7);
        var wFeat = Enumerable.Range(0, Features * Size).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.1f).ToArray();
        var f = new float[Features];
        for (int j = 0; j < Features; j++)
        {
            double s = 0;
            for (int p = 0; p < Size; p++) s += wFeat[j * Size + p] * image[p];
            f[j] = (float)Math.Max(0, s);
        }
        return f;
    }

    public static ModelMetadata Meta(GraphKind graph, PredictionType prediction, string dataset = "tiny", int channels = 1) => new()
    {
        Graph = graph, Dataset = dataset, ClassNames = Classes, Channels = channels, Height = H, Width = W, NumClasses = K,
        Timesteps = T, Schedule = NoiseScheduleKind.Linear, ScheduleParameters = new NoiseSchedule(NoiseScheduleKind.Linear, T).Parameters,
        Prediction = prediction, Ema = true, ConfigSha256 = new string('0', 64), SourceCommit = "test", Architecture = "template",
    };

    /// <summary>
    /// A diffusion model that knows the data exactly: its x0 estimate is the template of the class (row
    /// <paramref name="classOfTemplate"/>[y] of the template table; null class = mean template). For epsilon
    /// prediction it returns (x - sqrt(ab_t) x0) / sqrt(1 - ab_t). The guided graph combines cond and null outputs.
    /// </summary>
    public static Diffusion.Onnx.Proto.ModelProto Diffusion(GraphKind graph, PredictionType prediction, string dataset = "tiny", int[]? classOfTemplate = null, int channels = 1)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, T);
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, "batch", channels, H, W);
        var t = g.Input("t", DataType.Int64, "batch");
        var y = g.Input("y", DataType.Int64, "batch");
        var table = new float[(K + 1) * channels * Size];
        for (int k = 0; k <= K; k++) Template(k < K ? classOfTemplate?[k] ?? k : K, channels).CopyTo(table, k * channels * Size);
        var templates = g.Initializer("templates", table, K + 1, channels, H, W);
        var a = g.Initializer("sqrt_ab", schedule.SqrtAlphasCumprod.Select(v => (float)v).ToArray(), T);
        var s = g.Initializer("sqrt_1m_ab", schedule.SqrtOneMinusAlphasCumprod.Select(v => (float)v).ToArray(), T);
        GraphValue Branch(GraphValue labels)
        {
            var x0 = g.Gather(templates, labels);                                  // [batch, C, H, W]
            if (prediction == PredictionType.X0) return g.Add(x0, g.Mul(x, g.Scalar(0f)));
            var at = g.Unsqueeze(g.Gather(a, t), 1, 2, 3);
            var st = g.Unsqueeze(g.Gather(s, t), 1, 2, 3);
            return g.Div(g.Sub(x, g.Mul(at, x0)), st);
        }
        GraphValue result;
        if (graph == GraphKind.Unet) result = Branch(y);
        else
        {
            var scale = g.Input("scale", DataType.Float, "batch");
            var cond = Branch(y);
            var uncond = Branch(g.ConstantOfShape(g.Shape(y), K, y.Shape));
            result = g.Add(uncond, g.Mul(g.Unsqueeze(scale, 1, 2, 3), g.Sub(cond, uncond)));
        }
        g.Output(result, "out");
        return g.BuildModel(graph == GraphKind.Unet ? "unet" : "unet_guided", Meta(graph, prediction, dataset, channels).ToProperties());
    }

    /// <summary>A model folder with unet.onnx, unet-guided.onnx and judges built from the tiny judge on crafted data.</summary>
    public static string ModelFolder(PredictionType prediction = PredictionType.Epsilon, string dataset = "tiny", int[]? classOfTemplate = null, string? judgesFrom = null, int channels = 1)
    {
        string dir = TempDir();
        OnnxHelper.Save(Diffusion(GraphKind.Unet, prediction, dataset, classOfTemplate, channels), Path.Combine(dir, "unet.onnx"));
        OnnxHelper.Save(Diffusion(GraphKind.Guided, prediction, dataset, classOfTemplate, channels), Path.Combine(dir, "unet-guided.onnx"));
        if (judgesFrom is not null)
            foreach (var f in Directory.GetFiles(judgesFrom)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }
}

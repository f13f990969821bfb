using Diffusion.Onnx;
using Diffusion.Runtime;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using Diffusion.Tools;

namespace Diffusion.Eval.Tests;

/// <summary>
/// Crafted data and tiny ONNX models (built with Diffusion.Onnx) whose behaviour is known exactly:
/// class k is a bright 6 x 6 block at its own place on a dark 28 x 28 background; the judge scores each class by
/// the pixels of its block (a template matcher); the diffusion model predicts the class template itself.
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
    public static ImageSet Images(int perClass, double noise, int seed, Func<int, int>? labelOf = null)
    {
        var rng = new Random(seed);
        var px = new float[K * perClass * Size];
        var labels = new int[K * perClass];
        for (int k = 0, i = 0; k < K; k++)
        {
            var t = Template(k);
            for (int j = 0; j < perClass; j++, i++)
            {
                labels[i] = labelOf?.Invoke(k) ?? k;
                for (int p = 0; p < Size; p++)
                {
                    double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                    px[i * Size + p] = Math.Clamp((float)(t[p] + noise * g), -1f, 1f);
                }
            }
        }
        // through bytes, as IDX files would hold them
        var bytes = new byte[px.Length];
        Pixels.ToBytes(px, bytes);
        Pixels.ToModel(bytes, px);
        return new ImageSet(px, labels, H, W, "crafted");
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
    public static Diffusion.Onnx.Proto.ModelProto Judge(string dataset = "tiny", int[]? classOfBlock = null)
    {
        var g = new GraphBuilder();
        var image = g.Input(JudgeMetadata.ImageInput, DataType.Float, "batch", 1, H, W);
        var wLogits = new float[K * Size];
        for (int k = 0; k < K; k++)
        {
            int block = classOfBlock?[k] ?? k;
            for (int r = 0; r < H; r++) for (int c = 0; c < W; c++) if (InBlock(block, r, c)) wLogits[k * Size + r * W + c] = 0.1f;
        }
        var rng = new Random(7);
        var wFeat = Enumerable.Range(0, Features * Size).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.1f).ToArray();
        var flat = g.Flatten(image, 1);
        var logits = g.Gemm(flat, g.Initializer("w_logits", wLogits, K, Size), g.Initializer("b_logits", new float[K], K), transB: true);
        var probs = g.Softmax(logits, 1);
        var feats = g.Relu(g.Gemm(flat, g.Initializer("w_features", wFeat, Features, Size), null, transB: true));
        g.Output(logits, JudgeMetadata.LogitsOutput);
        g.Output(probs, JudgeMetadata.ProbabilitiesOutput);
        g.Output(feats, JudgeMetadata.FeaturesOutput);
        var meta = new JudgeMetadata
        {
            Dataset = dataset, ClassNames = Classes, FeatureDim = Features, TestAccuracy = 1, Architecture = "template matcher",
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

    public static ModelMetadata Meta(GraphKind graph, PredictionType prediction, string dataset = "tiny") => new()
    {
        Graph = graph, Dataset = dataset, ClassNames = Classes, Channels = 1, Height = H, Width = W, NumClasses = K,
        Timesteps = T, Schedule = NoiseScheduleKind.Linear, ScheduleParameters = new NoiseSchedule(NoiseScheduleKind.Linear, T).Parameters,
        Prediction = prediction, Ema = true, ConfigSha256 = new string('0', 64), SourceCommit = "test", Architecture = "template",
    };

    /// <summary>
    /// A diffusion model that knows the data exactly: its x0 estimate is the template of the class (row
    /// <paramref name="classOfTemplate"/>[y] of the template table; null class = mean template). For epsilon
    /// prediction it returns (x - sqrt(ab_t) x0) / sqrt(1 - ab_t). The guided graph combines cond and null outputs.
    /// </summary>
    public static Diffusion.Onnx.Proto.ModelProto Diffusion(GraphKind graph, PredictionType prediction, string dataset = "tiny", int[]? classOfTemplate = null)
    {
        var schedule = new NoiseSchedule(NoiseScheduleKind.Linear, T);
        var g = new GraphBuilder();
        var x = g.Input("x", DataType.Float, "batch", 1, H, W);
        var t = g.Input("t", DataType.Int64, "batch");
        var y = g.Input("y", DataType.Int64, "batch");
        var table = new float[(K + 1) * Size];
        for (int k = 0; k <= K; k++) Template(k < K ? classOfTemplate?[k] ?? k : K).CopyTo(table, k * Size);
        var templates = g.Initializer("templates", table, K + 1, 1, H, W);
        var a = g.Initializer("sqrt_ab", schedule.SqrtAlphasCumprod.Select(v => (float)v).ToArray(), T);
        var s = g.Initializer("sqrt_1m_ab", schedule.SqrtOneMinusAlphasCumprod.Select(v => (float)v).ToArray(), T);
        GraphValue Branch(GraphValue labels)
        {
            var x0 = g.Gather(templates, labels);                                  // [batch, 1, H, W]
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
        return g.BuildModel(graph == GraphKind.Unet ? "unet" : "unet_guided", Meta(graph, prediction, dataset).ToProperties());
    }

    /// <summary>A model folder with unet.onnx, unet-guided.onnx and judges built from the tiny judge on crafted data.</summary>
    public static string ModelFolder(PredictionType prediction = PredictionType.Epsilon, string dataset = "tiny", int[]? classOfTemplate = null, string? judgesFrom = null)
    {
        string dir = TempDir();
        OnnxHelper.Save(Diffusion(GraphKind.Unet, prediction, dataset, classOfTemplate), Path.Combine(dir, "unet.onnx"));
        OnnxHelper.Save(Diffusion(GraphKind.Guided, prediction, dataset, classOfTemplate), Path.Combine(dir, "unet-guided.onnx"));
        if (judgesFrom is not null)
            foreach (var f in Directory.GetFiles(judgesFrom)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }
}

using Diffusion.Onnx;
using Diffusion.Onnx.Proto;
using DataType = Diffusion.Onnx.Proto.TensorProto.Types.DataType;
using static Diffusion.Onnx.OnnxHelper;

namespace Diffusion.Runtime.Tests;

/// <summary>
/// Tiny deterministic ONNX models built with Diffusion.Onnx: the plain graph computes
/// out = A * x + Ct * t + Cy * y (per sample, broadcast over [C, H, W]); the guided graph runs it for y and for the
/// null class and returns uncond + scale * (cond - uncond). Both carry the pipeline's metadata.
/// </summary>
internal static class TinyModels
{
    public const float A = 0.5f, Ct = 0.001f, Cy = 0.01f;

    private static readonly Lazy<string> s_root = new(() =>
    {
        string root = Path.Combine(Path.GetTempPath(), "diffusion-tests", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { } };
        return root;
    });

    /// <summary>The repository's root: the first folder above the test binaries that holds Pipeline.sln.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>A new empty folder under this test process's temp root (deleted when the process exits).</summary>
    public static string NewTempDir()
    {
        string dir = Path.Combine(s_root.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static ModelMetadata Meta(GraphKind graph, PredictionType prediction = PredictionType.Epsilon, int T = 1000, int c = 1, int h = 28, int w = 28)
        => Oracles.Metadata(c: c, h: h, w: w, T: T, prediction: prediction, graph: graph) with { Dataset = "tiny", Architecture = "linear" };

    /// <summary>The model's output for one element, in float as ONNX Runtime computes it.</summary>
    public static float Eval(float x, long t, long y) => A * x + (Ct * t + Cy * y);

    private static IEnumerable<NodeProto> Branch(string p, string y) =>
    [
        MakeNode("Cast", ["t"], [p + "tf"], null, MakeAttribute("to", (long)DataType.Float)),
        MakeNode("Cast", [y], [p + "yf"], null, MakeAttribute("to", (long)DataType.Float)),
        MakeNode("Mul", [p + "tf", "ct"], [p + "ts"]),
        MakeNode("Mul", [p + "yf", "cy"], [p + "ys"]),
        MakeNode("Add", [p + "ts", p + "ys"], [p + "b"]),
        MakeNode("Unsqueeze", [p + "b", "axes"], [p + "b4"]),
        MakeNode("Mul", ["x", "a"], [p + "ax"]),
        MakeNode("Add", [p + "ax", p + "b4"], [p + "out"]),
    ];

    /// <summary>Builds a model; the knobs break it in the ways loading must catch.</summary>
    public static ModelProto Build(ModelMetadata meta, bool? guidedInputs = null, Func<Dictionary<string, string>, Dictionary<string, string>>? editMeta = null,
        string tName = "t", DataType tType = DataType.Int64, bool fixedBatch = false, int? outH = null, bool twoOutputs = false, bool dropY = false)
    {
        bool guided = guidedInputs ?? meta.Graph == GraphKind.Guided;
        Dim batch = fixedBatch ? Dim.Of(1) : Dim.Symbol("batch");
        var inputs = new List<ValueInfoProto> { MakeValueInfo("x", DataType.Float, [batch, meta.Channels, meta.Height, meta.Width]), MakeValueInfo(tName, tType, [batch]) };
        if (!dropY) inputs.Add(MakeValueInfo("y", DataType.Int64, [batch]));
        if (guided) inputs.Add(MakeValueInfo("scale", DataType.Float, [batch]));
        var outputs = new List<ValueInfoProto> { MakeValueInfo("out", DataType.Float, [batch, meta.Channels, outH ?? meta.Height, meta.Width]) };
        var inits = new List<TensorProto>
        {
            MakeTensor("a", [A]), MakeTensor("ct", [Ct]), MakeTensor("cy", [Cy]),
            MakeTensor("axes", [1L, 2L, 3L], 3), MakeTensor("nullc", [(long)meta.NullClass]), MakeTensor("zero", [0L]),
        };
        var nodes = new List<NodeProto>();
        if (outH is not null)
        {
            // an output that really has another shape: mean over H, [batch, C, 1, W]
            nodes.Add(MakeNode("ReduceMean", ["x"], ["out"], null, MakeAttribute("axes", new long[] { 2 }), MakeAttribute("keepdims", 1L)));
        }
        else if (tName != "t" || tType != DataType.Int64 || dropY)
        {
            // a broken signature: a graph that still computes something from x
            nodes.Add(MakeNode("Identity", ["x"], ["out"]));
        }
        else if (!guided)
        {
            nodes.AddRange(Branch("c_", "y"));
            nodes.Add(MakeNode("Identity", ["c_out"], ["out"]));
        }
        else
        {
            nodes.AddRange(Branch("c_", "y"));
            nodes.Add(MakeNode("Mul", ["y", "zero"], ["y0"]));
            nodes.Add(MakeNode("Add", ["y0", "nullc"], ["ynull"]));
            nodes.AddRange(Branch("u_", "ynull"));
            nodes.Add(MakeNode("Sub", ["c_out", "u_out"], ["d"]));
            nodes.Add(MakeNode("Unsqueeze", ["scale", "axes"], ["s4"]));
            nodes.Add(MakeNode("Mul", ["d", "s4"], ["sd"]));
            nodes.Add(MakeNode("Add", ["u_out", "sd"], ["out"]));
        }
        if (twoOutputs)
        {
            nodes.Add(MakeNode("Identity", ["x"], ["out2"]));
            outputs.Add(MakeValueInfo("out2", DataType.Float, [batch, meta.Channels, meta.Height, meta.Width]));
        }
        var props = new Dictionary<string, string>(meta.ToProperties());
        if (editMeta is not null) props = editMeta(props);
        return MakeModel(MakeGraph(nodes, UNetSignature.GraphName(meta.Graph), inputs, outputs, inits), 17, props);
    }

    /// <summary>
    /// <see cref="Folder"/> plus a "student" of <paramref name="steps"/> steps: the guided tiny model's math under a
    /// student's metadata (trailing timesteps, scales 1 to 5, distilled from this folder's unet.onnx).
    /// </summary>
    public static string StudentFolder(int steps = 4)
    {
        string dir = Folder();
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.IO.File.ReadAllBytes(Path.Combine(dir, "unet.onnx"))));
        var meta = Meta(GraphKind.Student) with { Student = new StudentInfo(steps, Diffusion.Runtime.Samplers.TimestepSchedule.Create(1000, steps, Diffusion.Runtime.Samplers.TimestepSpacing.Trailing), 1, 5, sha) };
        Save(Build(meta, guidedInputs: true), Path.Combine(dir, ModelFolderLayout.StudentFile(steps, int8: false)));
        return dir;
    }

    /// <summary>Writes unet.onnx and unet-guided.onnx into a new temp folder.</summary>
    public static string Folder(PredictionType prediction = PredictionType.Epsilon, int T = 1000, int h = 28, int w = 28)
    {
        string dir = NewTempDir();
        Save(Build(Meta(GraphKind.Unet, prediction, T, 1, h, w)), Path.Combine(dir, "unet.onnx"));
        Save(Build(Meta(GraphKind.Guided, prediction, T, 1, h, w)), Path.Combine(dir, "unet-guided.onnx"));
        return dir;
    }

    public static string File(ModelProto model, string name = "model.onnx")
    {
        string dir = NewTempDir();
        string path = Path.Combine(dir, name);
        Save(model, path);
        return path;
    }
}

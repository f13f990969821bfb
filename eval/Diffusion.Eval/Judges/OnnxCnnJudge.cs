using Diffusion.Runtime;
using Microsoft.ML;
using Microsoft.ML.Data;
using Diffusion.Tools;

namespace Diffusion.Eval.Judges;

/// <summary>
/// The main judge: the CNN exported to ONNX (inputs <c>image</c> [batch, 1, H, W] in [-1, 1]; outputs
/// <c>probabilities</c> [batch, K] and <c>features</c> [batch, F]) scored inside an ML.NET pipeline by
/// <c>ApplyOnnxModel</c> (Microsoft.ML.OnnxTransformer). Saved as an ML.NET model zip (the ONNX bytes travel
/// inside it) and reloaded from that zip alone.
/// </summary>
public sealed class OnnxCnnJudge : IJudge
{
    /// <summary>ONNX / ML.NET input column: the image, [1, H, W] per row.</summary>
    public const string ImageColumn = JudgeMetadata.ImageInput;
    /// <summary>ONNX / ML.NET output column: class probabilities (Softmax), [K] per row.</summary>
    public const string ProbabilitiesColumn = JudgeMetadata.ProbabilitiesOutput;
    /// <summary>ONNX / ML.NET output column: penultimate features, [F] per row.</summary>
    public const string FeaturesColumn = JudgeMetadata.FeaturesOutput;
    /// <summary>ONNX output: logits, [K] per row (not used by the pipeline).</summary>
    public const string LogitsColumn = JudgeMetadata.LogitsOutput;

    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly DataViewSchema _inputSchema;

    /// <inheritdoc/>
    public string Name => "cnn-onnx";
    /// <inheritdoc/>
    public int NumClasses { get; }
    /// <summary>Feature width F.</summary>
    public int FeatureDim { get; }
    /// <summary>Image channels C the model takes.</summary>
    public int Channels { get; }
    /// <summary>Image height H the model takes.</summary>
    public int Height { get; }
    /// <summary>Image width W the model takes.</summary>
    public int Width { get; }

    private OnnxCnnJudge(MLContext ml, ITransformer model, DataViewSchema inputSchema, int channels, int height, int width)
    {
        _ml = ml; _model = model; _inputSchema = inputSchema; Channels = channels; Height = height; Width = width;
        var output = model.GetOutputSchema(inputSchema);
        NumClasses = VectorSize(output, ProbabilitiesColumn);
        FeatureDim = VectorSize(output, FeaturesColumn);
    }

    /// <summary>Builds the ML.NET pipeline around an ONNX judge file.</summary>
    /// <param name="onnxPath">ONNX judge: input image [batch, C, H, W]; outputs probabilities [batch, K], features [batch, F].</param>
    /// <param name="channels">Image channels C.</param>
    /// <param name="height">Image height H.</param>
    /// <param name="width">Image width W.</param>
    /// <param name="threads">ONNX Runtime intra-op threads (null = its default).</param>
    /// <exception cref="InvalidInputException">Missing file, not ONNX, or inputs / outputs not as above.</exception>
    public static OnnxCnnJudge FromOnnx(string onnxPath, int channels = 1, int height = 28, int width = 28, int? threads = null)
    {
        if (!File.Exists(onnxPath)) throw new InvalidInputException($"Judge ONNX file not found: {onnxPath} (export it with 'make export-classifier').");
        var ml = new MLContext(seed: 0);
        var schema = InputSchema(ml, channels, height, width);
        try
        {
            var pipeline = ml.Transforms.ApplyOnnxModel(new Microsoft.ML.Transforms.Onnx.OnnxOptions
            {
                ModelFile = onnxPath,
                InputColumns = [ImageColumn],
                OutputColumns = [ProbabilitiesColumn, FeaturesColumn],
                ShapeDictionary = new Dictionary<string, int[]> { [ImageColumn] = [1, channels, height, width] },
                GpuDeviceId = null,
                FallbackToCpu = true,
                IntraOpNumThreads = threads,
            });
            var model = pipeline.Fit(ml.Data.LoadFromEnumerable(Array.Empty<ImageRow>(), schema));
            return new OnnxCnnJudge(ml, model, schema, channels, height, width);
        }
        catch (Exception e) when (e is not InvalidInputException && e is InvalidOperationException or ArgumentException or FormatException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
        {
            throw new InvalidInputException($"{onnxPath}: not a judge ONNX model with input '{ImageColumn}' [batch, {channels}, {height}, {width}] and outputs '{ProbabilitiesColumn}' [batch, K], '{FeaturesColumn}' [batch, F] ({e.Message}).", e);
        }
    }

    /// <summary>Saves the ML.NET model (pipeline plus embedded ONNX bytes) as a zip, atomically.</summary>
    public void Save(string zipPath) => AtomicFile.Write(zipPath, s => _ml.Model.Save(_model, _inputSchema, s));

    /// <summary>Loads an ML.NET judge zip written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidInputException">Missing file, not an ML.NET model, or not a judge pipeline.</exception>
    public static OnnxCnnJudge Load(string zipPath)
    {
        var (ml, model, schema) = MlNetZip.Load(zipPath, $"ML.NET judge not found: {zipPath} (build it with 'make judges').");
        var col = schema.GetColumnOrNull(ImageColumn);
        if (col is null || col.Value.Type is not VectorDataViewType v || v.Dimensions.Length != 3)
            throw new InvalidInputException($"{zipPath}: ML.NET model has no '{ImageColumn}' input of shape [C, H, W]; is it a judge built by 'eval judge'?");
        var output = model.GetOutputSchema(schema);
        if (output.GetColumnOrNull(ProbabilitiesColumn) is null || output.GetColumnOrNull(FeaturesColumn) is null)
            throw new InvalidInputException($"{zipPath}: ML.NET model does not output '{ProbabilitiesColumn}' and '{FeaturesColumn}'; is it a judge built by 'eval judge'?");
        return new OnnxCnnJudge(ml, model, schema, v.Dimensions[0], v.Dimensions[1], v.Dimensions[2]);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidInputException">Image size differs from the judge's.</exception>
    public JudgeScores Score(ImageSet images)
    {
        if (images.Channels != Channels || images.Height != Height || images.Width != Width)
            throw new InvalidInputException($"{images.Source}: images are [{images.Channels},{images.Height},{images.Width}]; the judge takes [{Channels},{Height},{Width}].");
        var rows = Enumerable.Range(0, images.Count).Select(i => new ImageRow { Image = images.Image(i).ToArray() });
        var scored = _model.Transform(_ml.Data.LoadFromEnumerable(rows, _inputSchema));
        var probs = new float[images.Count * NumClasses];
        var feats = new float[images.Count * FeatureDim];
        using var cursor = scored.GetRowCursor([scored.Schema[ProbabilitiesColumn], scored.Schema[FeaturesColumn]]);
        var getP = cursor.GetGetter<VBuffer<float>>(scored.Schema[ProbabilitiesColumn]);
        var getF = cursor.GetGetter<VBuffer<float>>(scored.Schema[FeaturesColumn]);
        VBuffer<float> p = default, f = default;
        for (int i = 0; cursor.MoveNext(); i++)
        {
            getP(ref p); getF(ref f);
            p.CopyTo(probs.AsSpan(i * NumClasses, NumClasses));
            f.CopyTo(feats.AsSpan(i * FeatureDim, FeatureDim));
        }
        return new JudgeScores(probs, NumClasses, feats, FeatureDim);
    }

    private static DataViewSchema InputSchema(MLContext ml, int channels, int height, int width)
    {
        var b = new DataViewSchema.Builder();
        b.AddColumn(ImageColumn, new VectorDataViewType(NumberDataViewType.Single, channels, height, width));
        return b.ToSchema();
    }

    private static int VectorSize(DataViewSchema schema, string column)
    {
        var c = schema.GetColumnOrNull(column) ?? throw new InvalidInputException($"Judge pipeline has no output column '{column}'.");
        if (c.Type is not VectorDataViewType v || v.Size < 1)
            throw new InvalidInputException($"Judge output '{column}' is {c.Type}; expected a fixed-size float vector.");
        return v.Size;
    }

    /// <inheritdoc/>
    public void Dispose() => (_model as IDisposable)?.Dispose();

    /// <summary>One input row of the pipeline.</summary>
    private sealed class ImageRow
    {
        /// <summary>Image pixels, [H * W] in [-1, 1].</summary>
        [ColumnName(ImageColumn)]
        public float[] Image { get; set; } = [];
    }
}

using Diffusion.Runtime;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers.LightGbm;
using Diffusion.Tools;

namespace Diffusion.Eval.Judges;

/// <summary>Settings of the LightGBM judge.</summary>
public sealed record LightGbmOptions
{
    /// <summary>Boosting rounds (each adds one tree per class).</summary>
    public int Iterations { get; init; } = 200;
    /// <summary>Leaves per tree.</summary>
    public int Leaves { get; init; } = 31;
    /// <summary>Shrinkage.</summary>
    public double LearningRate { get; init; } = 0.1;
    /// <summary>Minimum examples per leaf.</summary>
    public int MinExamplesPerLeaf { get; init; } = 20;
    /// <summary>Threads (null = LightGBM's default).</summary>
    public int? Threads { get; init; }
    /// <summary>Seed.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Checks every value.</summary>
    /// <exception cref="InvalidInputException">The message names the option and value.</exception>
    public void Validate()
    {
        if (Iterations < 1) throw new InvalidInputException($"--lgbm-iterations {Iterations}; expected >= 1.");
        if (Leaves < 2) throw new InvalidInputException($"--lgbm-leaves {Leaves}; expected >= 2.");
        if (!(LearningRate > 0)) throw new InvalidInputException($"--lgbm-lr {LearningRate}; expected > 0.");
        if (MinExamplesPerLeaf < 1) throw new InvalidInputException($"--lgbm-min-leaf {MinExamplesPerLeaf}; expected >= 1.");
    }
}

/// <summary>
/// The second, independent judge, trained entirely in ML.NET: LightGBM multiclass (gradient-boosted trees,
/// Ke et al. 2017) on raw pixels. No convolution, no shared code with the CNN, so agreement between the two
/// is evidence that generated images are recognisable rather than adversarial to one network.
/// </summary>
public sealed class LightGbmJudge : IJudge
{
    private const string PixelsColumn = "Features", LabelColumn = "Label", ScoreColumn = "Score";
    private readonly MLContext _ml;
    private readonly ITransformer _model;
    private readonly DataViewSchema _inputSchema;
    private readonly int _imageSize;

    /// <inheritdoc/>
    public string Name => "lightgbm";
    /// <inheritdoc/>
    public int NumClasses { get; }

    private LightGbmJudge(MLContext ml, ITransformer model, DataViewSchema inputSchema)
    {
        _ml = ml; _model = model; _inputSchema = inputSchema;
        _imageSize = ((VectorDataViewType)inputSchema[PixelsColumn].Type).Size;
        var score = model.GetOutputSchema(inputSchema).GetColumnOrNull(ScoreColumn);
        NumClasses = score?.Type is VectorDataViewType v ? v.Size : 0;
    }

    /// <summary>Trains on <paramref name="train"/>; every class 0..numClasses-1 must occur in it.</summary>
    /// <exception cref="InvalidInputException">A class is missing from the training images, or bad options.</exception>
    public static LightGbmJudge Train(ImageSet train, int numClasses, LightGbmOptions options)
    {
        options.Validate();
        for (int c = 0; c < numClasses; c++)
            if (Array.IndexOf(train.Labels, c) < 0)
                throw new InvalidInputException($"{train.Source}: class {c} has no training image; LightGBM needs every class 0..{numClasses - 1}.");
        var ml = new MLContext(seed: options.Seed);
        var schema = InputSchema(train.ImageSize);
        var data = ml.Data.LoadFromEnumerable(Rows(train), schema);
        // Keys ordered by value, so score slot k is class k.
        var pipeline = ml.Transforms.Conversion.MapValueToKey(LabelColumn, keyOrdinality: Microsoft.ML.Transforms.ValueToKeyMappingEstimator.KeyOrdinality.ByValue)
            .Append(ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options
            {
                LabelColumnName = LabelColumn,
                FeatureColumnName = PixelsColumn,
                NumberOfIterations = options.Iterations,
                NumberOfLeaves = options.Leaves,
                LearningRate = options.LearningRate,
                MinimumExampleCountPerLeaf = options.MinExamplesPerLeaf,
                NumberOfThreads = options.Threads,
                Seed = options.Seed,
                Silent = true,
                Verbose = false,
            }));
        var model = pipeline.Fit(data);
        return new LightGbmJudge(ml, model, schema);
    }

    /// <summary>Saves the ML.NET model zip atomically.</summary>
    public void Save(string zipPath) => AtomicFile.Write(zipPath, s => _ml.Model.Save(_model, _inputSchema, s));

    /// <summary>Loads a zip written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidInputException">Missing file or not a LightGBM judge.</exception>
    public static LightGbmJudge Load(string zipPath)
    {
        var (ml, model, schema) = MlNetZip.Load(zipPath, $"LightGBM judge not found: {zipPath} (train it with 'make judges').");
        if (schema.GetColumnOrNull(PixelsColumn)?.Type is not VectorDataViewType { Size: > 0 }
            || model.GetOutputSchema(schema).GetColumnOrNull(ScoreColumn)?.Type is not VectorDataViewType { Size: > 1 })
            throw new InvalidInputException($"{zipPath}: not a LightGBM judge (expected a '{PixelsColumn}' pixel vector in and a '{ScoreColumn}' vector out).");
        return new LightGbmJudge(ml, model, schema);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidInputException">Image size differs from the judge's.</exception>
    public JudgeScores Score(ImageSet images)
    {
        if (images.ImageSize != _imageSize)
            throw new InvalidInputException($"{images.Source}: images have {images.ImageSize} pixels; the LightGBM judge takes {_imageSize}.");
        var scored = _model.Transform(_ml.Data.LoadFromEnumerable(Rows(images), _inputSchema));
        var probs = new float[images.Count * NumClasses];
        var col = scored.Schema[ScoreColumn];
        using var cursor = scored.GetRowCursor([col]);
        var get = cursor.GetGetter<VBuffer<float>>(col);
        VBuffer<float> p = default;
        for (int i = 0; cursor.MoveNext(); i++)
        {
            get(ref p);
            p.CopyTo(probs.AsSpan(i * NumClasses, NumClasses));
        }
        return new JudgeScores(probs, NumClasses, null, 0);
    }

    private static IEnumerable<PixelRow> Rows(ImageSet set)
        => Enumerable.Range(0, set.Count).Select(i => new PixelRow { Features = set.Image(i).ToArray(), Label = (uint)set.Labels[i] });

    private static DataViewSchema InputSchema(int size)
    {
        var b = new DataViewSchema.Builder();
        b.AddColumn(PixelsColumn, new VectorDataViewType(NumberDataViewType.Single, size));
        b.AddColumn(LabelColumn, NumberDataViewType.UInt32);
        return b.ToSchema();
    }

    /// <inheritdoc/>
    public void Dispose() => (_model as IDisposable)?.Dispose();

    private sealed class PixelRow
    {
        public float[] Features { get; set; } = [];
        public uint Label { get; set; }
    }
}

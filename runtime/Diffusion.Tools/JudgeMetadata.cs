using System.Globalization;
using System.Text.Json;
using Diffusion.Runtime;

namespace Diffusion.Tools;

/// <summary>
/// Metadata of an exported judge classifier (ONNX <c>metadata_props</c>, keys prefixed <c>judge.</c>), so that the
/// file says which dataset and classes it judges. Written by export/ (<c>export-classifier</c>), read by eval/.
/// The judge graph takes <c>image</c> float [batch, C, H, W] in [-1, 1] and returns <c>logits</c> [batch, K],
/// <c>probabilities</c> [batch, K] (softmax) and <c>features</c> [batch, F] (penultimate layer).
/// </summary>
public sealed record JudgeMetadata
{
    /// <summary>Version of this schema.</summary>
    public const int CurrentSchemaVersion = 1;
    /// <summary>Prefix of every key.</summary>
    public const string Prefix = "judge.";
    /// <summary>Input name.</summary>
    public const string ImageInput = "image";
    /// <summary>Output: logits [batch, K].</summary>
    public const string LogitsOutput = "logits";
    /// <summary>Output: softmax probabilities [batch, K].</summary>
    public const string ProbabilitiesOutput = "probabilities";
    /// <summary>Output: penultimate features [batch, F].</summary>
    public const string FeaturesOutput = "features";
    /// <summary>The ONNX graph's name.</summary>
    public const string GraphName = "judge";

    /// <summary>Dataset the judge was trained on ("mnist", "fashion-mnist").</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Class names, index = label.</summary>
    public IReadOnlyList<string> ClassNames { get; init; } = [];
    /// <summary>Image channels C.</summary>
    public int Channels { get; init; } = 1;
    /// <summary>Image height H.</summary>
    public int Height { get; init; } = 28;
    /// <summary>Image width W.</summary>
    public int Width { get; init; } = 28;
    /// <summary>Number of classes K.</summary>
    public int NumClasses => ClassNames.Count;
    /// <summary>Width F of the feature output.</summary>
    public int FeatureDim { get; init; }
    /// <summary>Test-set accuracy measured by the trainer right after training (0-1).</summary>
    public double TestAccuracy { get; init; }
    /// <summary>Wall time of training, seconds.</summary>
    public double TrainSeconds { get; init; }
    /// <summary>Machine it was trained on.</summary>
    public string TrainHardware { get; init; } = "";
    /// <summary>Architecture summary, e.g. "JudgeCnn 32-64-128".</summary>
    public string Architecture { get; init; } = "";
    /// <summary>Command that trained it.</summary>
    public string TrainCommand { get; init; } = "";
    /// <summary>Command that exported it.</summary>
    public string ExportCommand { get; init; } = "";
    /// <summary>Source commit of the training code.</summary>
    public string SourceCommit { get; init; } = "unknown";

    /// <summary>Key/value pairs for ONNX metadata_props, sorted by key.</summary>
    public SortedDictionary<string, string> ToProperties()
    {
        var inv = CultureInfo.InvariantCulture;
        return new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [Prefix + "schema_version"] = CurrentSchemaVersion.ToString(inv),
            [Prefix + "dataset"] = Dataset,
            [Prefix + "class_names"] = JsonSerializer.Serialize(ClassNames),
            [Prefix + "image_shape"] = $"[{Channels},{Height},{Width}]",
            [Prefix + "num_classes"] = NumClasses.ToString(inv),
            [Prefix + "feature_dim"] = FeatureDim.ToString(inv),
            [Prefix + "pixel_range"] = Pixels.RangeName,
            [Prefix + "test_accuracy"] = TestAccuracy.ToString("R", inv),
            [Prefix + "architecture"] = Architecture,
            [Prefix + "train_command"] = TrainCommand,
            [Prefix + "train_seconds"] = TrainSeconds.ToString("R", inv),
            [Prefix + "train_hardware"] = TrainHardware,
            [Prefix + "export_command"] = ExportCommand,
            [Prefix + "source_commit"] = SourceCommit,
        };
    }

    /// <summary>Reads and validates judge metadata; <paramref name="source"/> names the file in messages.</summary>
    /// <exception cref="InvalidInputException">A key is missing or invalid (for example a U-Net file passed as a judge).</exception>
    public static JudgeMetadata FromProperties(IReadOnlyDictionary<string, string> props, string source)
    {
        string Req(string key) => props.TryGetValue(Prefix + key, out var v) && v is not null ? v
            : throw new InvalidInputException($"{source}: metadata key '{Prefix}{key}' is missing; is this a judge exported by 'make export-classifier'?");
        int Int(string key, int min)
        {
            string v = Req(key);
            return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r >= min ? r
                : throw new InvalidInputException($"{source}: metadata '{Prefix}{key}' = '{v}'; expected an integer >= {min}.");
        }
        int version = Int("schema_version", 1);
        if (version > CurrentSchemaVersion)
            throw new InvalidInputException($"{source}: judge metadata schema version {version} is newer than this build reads ({CurrentSchemaVersion}).");
        string[] names;
        int[] shape;
        try
        {
            names = JsonSerializer.Deserialize<string[]>(Req("class_names")) ?? [];
            shape = JsonSerializer.Deserialize<int[]>(Req("image_shape")) ?? [];
        }
        catch (JsonException e) { throw new InvalidInputException($"{source}: judge metadata class_names or image_shape is not valid JSON ({e.Message}).", e); }
        if (shape.Length != 3 || shape.Any(d => d < 1)) throw new InvalidInputException($"{source}: judge metadata image_shape = '{Req("image_shape")}'; expected [C,H,W].");
        int k = Int("num_classes", 2);
        if (names.Length != k) throw new InvalidInputException($"{source}: judge metadata has {names.Length} class names for num_classes = {k}.");
        if (Req("pixel_range") != Pixels.RangeName) throw new InvalidInputException($"{source}: judge pixel_range = '{Req("pixel_range")}'; expected '{Pixels.RangeName}'.");
        if (!double.TryParse(Req("test_accuracy"), NumberStyles.Float, CultureInfo.InvariantCulture, out double acc))
            throw new InvalidInputException($"{source}: judge metadata test_accuracy = '{Req("test_accuracy")}' is not a number.");
        return new JudgeMetadata
        {
            Dataset = Req("dataset"), ClassNames = names, Channels = shape[0], Height = shape[1], Width = shape[2],
            FeatureDim = Int("feature_dim", 1), TestAccuracy = acc, Architecture = Req("architecture"),
            TrainCommand = Req("train_command"), ExportCommand = props.TryGetValue(Prefix + "export_command", out var ec) ? ec : "",
            SourceCommit = Req("source_commit"),
            TrainSeconds = props.TryGetValue(Prefix + "train_seconds", out var ts) && double.TryParse(ts, NumberStyles.Float, CultureInfo.InvariantCulture, out double sec) ? sec : 0,
            TrainHardware = props.TryGetValue(Prefix + "train_hardware", out var th) ? th : "",
        };
    }
}

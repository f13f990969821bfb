using System.Globalization;
using System.Text.Json;

namespace Diffusion.Runtime;

/// <summary>Which graph an ONNX file holds.</summary>
public enum GraphKind
{
    /// <summary><c>unet.onnx</c>: inputs x [batch, C, H, W] float, t [batch] int64, y [batch] int64; output the native prediction.</summary>
    Unet,
    /// <summary><c>unet-guided.onnx</c>: as <see cref="Unet"/> plus scale [batch] float; output uncond + scale * (cond - uncond).</summary>
    Guided,
    /// <summary>
    /// <c>unet-student.onnx</c>: a guidance-distilled student (Meng et al. 2023); the guided graph's inputs (x, t, y,
    /// scale) and output, in one U-Net pass: the scale is an input of the network, not a mix of two outputs.
    /// </summary>
    Student,
}

/// <summary>Numeric form of a graph's convolutions (<see cref="ModelMetadata.Precision"/>).</summary>
public enum GraphPrecision
{
    /// <summary>float32 throughout (<c>unet.onnx</c>, <c>unet-guided.onnx</c>): the exported TorchSharp weights.</summary>
    Float32,
    /// <summary>
    /// int8 convolutions (<c>unet-int8.onnx</c>, <c>unet-guided-int8.onnx</c>): every Conv as QuantizeLinear /
    /// DequantizeLinear around it, which ONNX Runtime's CPU provider runs as QLinearConv; everything else float32.
    /// </summary>
    Int8,
}

/// <summary>
/// What a guidance-distilled student graph (<see cref="GraphKind.Student"/>) was trained for (issue 18): the one step
/// count and timesteps it samples with (the runtime's DDIM at eta 0 on the trailing grid, its only sampler), the
/// guidance scales it learned, and which model it was distilled from.
/// </summary>
/// <param name="Steps">Sampling steps N.</param>
/// <param name="Timesteps">Its N timesteps, descending (<see cref="Samplers.TimestepSchedule"/>, trailing).</param>
/// <param name="MinScale">Smallest guidance scale learned (diffusers convention).</param>
/// <param name="MaxScale">Largest guidance scale learned.</param>
/// <param name="DistilledFrom">SHA-256 of the teacher it descends from: its checkpoint file, or the float32 unet.onnx of a model folder.</param>
public sealed record StudentInfo(int Steps, IReadOnlyList<int> Timesteps, double MinScale, double MaxScale, string DistilledFrom)
{
    /// <summary>The one sampler a student runs with (metadata value).</summary>
    public const string Sampler = "ddim";
}

/// <summary>
/// The metadata every exported model carries in its ONNX <c>metadata_props</c>, so that a file describes itself:
/// the runtime rebuilds the noise schedule, the prediction type and the label convention from it alone.
/// Writer (export/) and reader (runtime/) share this one definition. Keys are prefixed <c>diffusion.</c>.
/// </summary>
public sealed record ModelMetadata
{
    /// <summary>Version of this schema; a reader refuses files with a newer major version.</summary>
    public const int CurrentSchemaVersion = 1;
    /// <summary>Prefix of every key.</summary>
    public const string Prefix = "diffusion.";

    /// <summary>Schema version the file was written with.</summary>
    public int SchemaVersion { get; init; } = CurrentSchemaVersion;
    /// <summary>Which graph the file holds.</summary>
    public GraphKind Graph { get; init; }
    /// <summary>Dataset name, e.g. "mnist" or "fashion-mnist".</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Class names, index = label (length = <see cref="NumClasses"/>).</summary>
    public IReadOnlyList<string> ClassNames { get; init; } = [];
    /// <summary>Image channels C.</summary>
    public int Channels { get; init; } = 1;
    /// <summary>Image height H.</summary>
    public int Height { get; init; } = 28;
    /// <summary>Image width W.</summary>
    public int Width { get; init; } = 28;
    /// <summary>Number of real classes; label values 0..NumClasses-1.</summary>
    public int NumClasses { get; init; } = 10;
    /// <summary>Label of the null (unconditional) class; always equals <see cref="NumClasses"/>.</summary>
    public int NullClass => NumClasses;
    /// <summary>Number of diffusion steps T the model was trained with.</summary>
    public int Timesteps { get; init; }
    /// <summary>Noise schedule family.</summary>
    public NoiseScheduleKind Schedule { get; init; }
    /// <summary>Schedule parameters (beta_start / beta_end, or s / max_beta).</summary>
    public IReadOnlyDictionary<string, double> ScheduleParameters { get; init; } = new Dictionary<string, double>();
    /// <summary>What the network predicts.</summary>
    public PredictionType Prediction { get; init; }
    /// <summary>Pixel range inside the model; always "[-1,1]".</summary>
    public string PixelRange { get; init; } = Pixels.RangeName;
    /// <summary>Guidance convention of the guided graph; always "diffusers" (scale 1 = conditional).</summary>
    public string GuidanceConvention { get; init; } = Guidance.Convention;
    /// <summary>True when the exported weights are the EMA weights.</summary>
    public bool Ema { get; init; }
    /// <summary>SHA-256 of the resolved training config JSON.</summary>
    public string ConfigSha256 { get; init; } = "";
    /// <summary>Source commit the checkpoint was trained from ("unknown" when not in git).</summary>
    public string SourceCommit { get; init; } = "unknown";
    /// <summary>Model preset or architecture summary, e.g. "small".</summary>
    public string Architecture { get; init; } = "";
    /// <summary>Numeric form of the convolutions; key absent = <see cref="GraphPrecision.Float32"/>.</summary>
    public GraphPrecision Precision { get; init; } = GraphPrecision.Float32;
    /// <summary>
    /// Int8 graphs: SHA-256 (lowercase hex) of the float32 file they were quantized from, so a loader can tell a stale
    /// int8 file from a current one; "" for float32 graphs.
    /// </summary>
    public string QuantizedFrom { get; init; } = "";
    /// <summary>
    /// SHA-256 (lowercase hex) of the checkpoint file the weights were exported from, so that a loader can refuse a
    /// folder whose graphs come from two exports; "" for graphs exported before this key existed (or not from a
    /// checkpoint). Int8 graphs keep the value of the float32 graph they were quantized from.
    /// </summary>
    public string CheckpointSha256 { get; init; } = "";
    /// <summary>Optimizer steps of that checkpoint; null when <see cref="CheckpointSha256"/> is "".</summary>
    public long? CheckpointStep { get; init; }
    /// <summary>A student graph's step count, timesteps, scale range and teacher; null for every other graph.</summary>
    public StudentInfo? Student { get; init; }

    /// <summary>"float32" or "int8": the metadata value of <paramref name="precision"/>, also used by reports.</summary>
    public static string PrecisionName(GraphPrecision precision) => precision == GraphPrecision.Int8 ? "int8" : "float32";

    /// <summary>Rebuilds the noise schedule this model was trained with.</summary>
    public NoiseSchedule CreateSchedule() => ScheduleSpec.Create();

    /// <summary>The schedule this model was trained with, as a value (<see cref="Schedule"/>, <see cref="Timesteps"/>, <see cref="ScheduleParameters"/>).</summary>
    public ScheduleSpec ScheduleSpec => ScheduleSpec.FromMetadata(Schedule, Timesteps, ScheduleParameters);

    /// <summary>This metadata with the schedule fields set from <paramref name="spec"/>.</summary>
    public ModelMetadata WithSchedule(ScheduleSpec spec)
        => this with { Schedule = spec.Kind, Timesteps = spec.Timesteps, ScheduleParameters = spec.MetadataParameters };

    /// <summary>The metadata name of a graph kind: unet, unet-guided, unet-student.</summary>
    public static string GraphName(GraphKind kind) => kind switch
    {
        GraphKind.Unet => "unet",
        GraphKind.Guided => "unet-guided",
        GraphKind.Student => "unet-student",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Key/value pairs for ONNX metadata_props, sorted by key (deterministic output).</summary>
    public SortedDictionary<string, string> ToProperties()
    {
        var inv = CultureInfo.InvariantCulture;
        var props = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [Prefix + "schema_version"] = SchemaVersion.ToString(inv),
            [Prefix + "graph"] = GraphName(Graph),
            [Prefix + "dataset"] = Dataset,
            [Prefix + "class_names"] = JsonSerializer.Serialize(ClassNames),
            [Prefix + "image_shape"] = $"[{Channels},{Height},{Width}]",
            [Prefix + "num_classes"] = NumClasses.ToString(inv),
            [Prefix + "null_class"] = NullClass.ToString(inv),
            [Prefix + "timesteps"] = Timesteps.ToString(inv),
            [Prefix + "schedule"] = NoiseSchedule.Name(Schedule),
            [Prefix + "schedule_params"] = JsonSerializer.Serialize(new SortedDictionary<string, double>(ScheduleParameters.ToDictionary(), StringComparer.Ordinal)),
            [Prefix + "prediction"] = Runtime.Prediction.Name(Prediction),
            [Prefix + "pixel_range"] = PixelRange,
            [Prefix + "guidance_convention"] = GuidanceConvention,
            [Prefix + "ema"] = Ema ? "true" : "false",
            [Prefix + "config_sha256"] = ConfigSha256,
            [Prefix + "source_commit"] = SourceCommit,
            [Prefix + "architecture"] = Architecture,
        };
        if (CheckpointSha256.Length > 0)
        {
            // absent for graphs not exported from a checkpoint, so their bytes do not change
            props[Prefix + "checkpoint_sha256"] = CheckpointSha256;
            if (CheckpointStep is long step) props[Prefix + "checkpoint_step"] = step.ToString(inv);
        }
        if (Student is { } st)
        {
            props[Prefix + "student_steps"] = st.Steps.ToString(inv);
            props[Prefix + "student_timesteps"] = JsonSerializer.Serialize(st.Timesteps);
            props[Prefix + "student_sampler"] = StudentInfo.Sampler;
            props[Prefix + "student_scale_range"] = JsonSerializer.Serialize(new[] { st.MinScale, st.MaxScale });
            props[Prefix + "distilled_from"] = st.DistilledFrom;
        }
        if (Precision == GraphPrecision.Int8)
        {
            // float32 files carry neither key (absent = float32), so their bytes do not change
            props[Prefix + "precision"] = PrecisionName(Precision);
            props[Prefix + "quantized_from"] = QuantizedFrom;
        }
        return props;
    }

    /// <summary>Reads and validates metadata from ONNX metadata_props; <paramref name="source"/> names the file in messages.</summary>
    /// <exception cref="InvalidInputException">A key is missing or a value is invalid; the message names the file, key and value.</exception>
    public static ModelMetadata FromProperties(IReadOnlyDictionary<string, string> props, string source)
    {
        string Req(string key)
        {
            if (!props.TryGetValue(Prefix + key, out var v) || v is null)
                throw new InvalidInputException($"{source}: metadata key '{Prefix}{key}' is missing; is this a model exported by this pipeline?");
            return v;
        }
        int Int(string key, int min)
        {
            string v = Req(key);
            if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) || r < min)
                throw new InvalidInputException($"{source}: metadata '{Prefix}{key}' = '{v}'; expected an integer >= {min}.");
            return r;
        }
        T Parse<T>(string key, Func<string, T> parse)
        {
            string v = Req(key);
            try { return parse(v); }
            catch (Exception e) when (e is InvalidInputException or JsonException or FormatException)
            { throw new InvalidInputException($"{source}: metadata '{Prefix}{key}' = '{v}' is invalid: {e.Message}", e); }
        }

        int version = Int("schema_version", 1);
        if (version > CurrentSchemaVersion)
            throw new InvalidInputException($"{source}: metadata schema version {version} is newer than this runtime supports ({CurrentSchemaVersion}).");
        var graph = Req("graph") switch
        {
            "unet" => GraphKind.Unet,
            "unet-guided" => GraphKind.Guided,
            "unet-student" => GraphKind.Student,
            var g => throw new InvalidInputException($"{source}: metadata '{Prefix}graph' = '{g}'; expected unet, unet-guided or unet-student."),
        };
        int[] shape = Parse("image_shape", v => JsonSerializer.Deserialize<int[]>(v) ?? throw new FormatException("null"));
        if (shape.Length != 3 || shape.Any(d => d < 1))
            throw new InvalidInputException($"{source}: metadata '{Prefix}image_shape' = '{Req("image_shape")}'; expected [C,H,W] with positive sizes.");
        int numClasses = Int("num_classes", 1);
        int nullClass = Int("null_class", 0);
        if (nullClass != numClasses)
            throw new InvalidInputException($"{source}: metadata null_class = {nullClass}; expected it to equal num_classes ({numClasses}).");
        var names = Parse("class_names", v => JsonSerializer.Deserialize<string[]>(v) ?? throw new FormatException("null"));
        if (names.Length != 0 && names.Length != numClasses)
            throw new InvalidInputException($"{source}: metadata class_names has {names.Length} names; expected {numClasses}.");
        string range = Req("pixel_range");
        if (range != Pixels.RangeName) throw new InvalidInputException($"{source}: metadata pixel_range = '{range}'; expected '{Pixels.RangeName}'.");
        string conv = Req("guidance_convention");
        if (conv != Guidance.Convention) throw new InvalidInputException($"{source}: metadata guidance_convention = '{conv}'; expected '{Guidance.Convention}'.");

        var meta = new ModelMetadata
        {
            SchemaVersion = version,
            Graph = graph,
            Dataset = Req("dataset"),
            ClassNames = names,
            Channels = shape[0], Height = shape[1], Width = shape[2],
            NumClasses = numClasses,
            Timesteps = Int("timesteps", 1),
            Schedule = Parse("schedule", NoiseSchedule.ParseKind),
            ScheduleParameters = Parse("schedule_params", v => JsonSerializer.Deserialize<Dictionary<string, double>>(v) ?? throw new FormatException("null")),
            Prediction = Parse("prediction", Runtime.Prediction.Parse),
            PixelRange = range,
            GuidanceConvention = conv,
            Ema = Req("ema") == "true",
            ConfigSha256 = Req("config_sha256"),
            SourceCommit = Req("source_commit"),
            Architecture = props.TryGetValue(Prefix + "architecture", out var a) ? a : "",
            Precision = !props.TryGetValue(Prefix + "precision", out var p) ? GraphPrecision.Float32 : p switch
            {
                "float32" => GraphPrecision.Float32,
                "int8" => GraphPrecision.Int8,
                _ => throw new InvalidInputException($"{source}: metadata '{Prefix}precision' = '{p}'; expected float32 or int8."),
            },
            QuantizedFrom = props.TryGetValue(Prefix + "quantized_from", out var q) ? q : "",
            CheckpointSha256 = props.TryGetValue(Prefix + "checkpoint_sha256", out var c) ? c : "",
            CheckpointStep = props.TryGetValue(Prefix + "checkpoint_step", out var cs) ? ParseStep(cs) : null,
        };
        if (graph == GraphKind.Student)
        {
            string sampler = Req("student_sampler");
            if (sampler != StudentInfo.Sampler)
                throw new InvalidInputException($"{source}: metadata '{Prefix}student_sampler' = '{sampler}'; expected '{StudentInfo.Sampler}'.");
            int steps = Int("student_steps", 1);
            var ts = Parse("student_timesteps", v => JsonSerializer.Deserialize<int[]>(v) ?? throw new FormatException("null"));
            var expected = Samplers.TimestepSchedule.Create(meta.Timesteps, Math.Min(steps, meta.Timesteps), Samplers.TimestepSpacing.Trailing);
            if (!ts.SequenceEqual(expected))
                throw new InvalidInputException($"{source}: metadata '{Prefix}student_timesteps' = {Req("student_timesteps")}; expected the {steps}-step trailing grid [{string.Join(",", expected)}].");
            var scales = Parse("student_scale_range", v => JsonSerializer.Deserialize<double[]>(v) ?? throw new FormatException("null"));
            if (scales.Length != 2 || !(scales[0] >= 0) || !(scales[1] >= scales[0]))
                throw new InvalidInputException($"{source}: metadata '{Prefix}student_scale_range' = {Req("student_scale_range")}; expected [min, max] with 0 <= min <= max.");
            meta = meta with { Student = new StudentInfo(steps, ts, scales[0], scales[1], Req("distilled_from")) };
        }
        if (meta.CheckpointSha256.Length > 0 && (meta.CheckpointSha256.Length != 64 || !meta.CheckpointSha256.All(char.IsAsciiHexDigit)))
            throw new InvalidInputException($"{source}: metadata '{Prefix}checkpoint_sha256' = '{meta.CheckpointSha256}'; expected 64 hex digits.");
        meta.CreateSchedule(); // validates the schedule parameters
        return meta;

        long ParseStep(string v) => long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long r)
            ? r : throw new InvalidInputException($"{source}: metadata '{Prefix}checkpoint_step' = '{v}'; expected a whole number >= 0.");
    }
}

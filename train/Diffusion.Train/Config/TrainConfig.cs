using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Diffusion.Runtime;
using Diffusion.Train.Model;
using Diffusion.Tools;

namespace Diffusion.Train.Config;

/// <summary>Where training runs: <c>auto</c> picks CUDA when libtorch sees a GPU, else the CPU.</summary>
public enum DeviceKind
{
    /// <summary>CUDA when available, else CPU.</summary>
    Auto,
    /// <summary>The CPU.</summary>
    Cpu,
    /// <summary>The first CUDA GPU (needs a build with <c>-p:TorchSharpCuda=true</c>).</summary>
    Cuda,
}

/// <summary>
/// A training run, read from JSON with snake_case keys (see <c>configs/*.json</c>). The model is a <see cref="Preset"/>
/// with optional field-by-field overrides under <c>model</c>; after <see cref="Load"/> or <see cref="Parse"/>,
/// <see cref="Model"/> holds the full resolved architecture and <see cref="ToJson"/> writes the resolved config
/// (what the trainer saves beside its checkpoints and the exporter hashes). Call <see cref="Validate"/> before use.
/// </summary>
public sealed record TrainConfig
{
    /// <summary>Run name; outputs go to <c>runs/&lt;name&gt;</c> unless <see cref="OutDir"/> is set.</summary>
    public string Name { get; init; } = "mnist";
    /// <summary>Output folder of the run (null: <c>runs/&lt;name&gt;</c>).</summary>
    public string? OutDir { get; init; }
    /// <summary>Dataset name written in metadata ("mnist", "fashion-mnist").</summary>
    public string Dataset { get; init; } = "mnist";
    /// <summary>Folder holding <c>train-images-idx3-ubyte</c> and <c>train-labels-idx1-ubyte</c> (raw or .gz).</summary>
    public string Data { get; init; } = "data/mnist";
    /// <summary>
    /// An image folder's images of another size than the model's: refused (the default, not written to the JSON so that
    /// IDX configs stay as they were), or resized with SkiaSharp's linear or cubic filter.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public Imaging.ResizeMode Resize { get; init; }
    /// <summary>An image folder's files that cannot be decoded are skipped and counted instead of stopping the run (written only when on).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool SkipBadImages { get; init; }
    /// <summary>
    /// Mirror each training image left to right with probability 1/2 (the CIFAR-10 recipe of Ho et al. 2020, sec. 4):
    /// for image folders whose classes do not change in a mirror. Off by default (not written to the JSON, so that
    /// earlier configs stay as they were): a mirrored digit is another symbol.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool RandomFlip { get; init; }
    /// <summary>Class names, index = label; their count is the model's number of classes.</summary>
    public IReadOnlyList<string> ClassNames { get; init; } = Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
    /// <summary>Model preset (small, medium, large) the <see cref="Model"/> started from; null for a fully explicit model.</summary>
    public string? Preset { get; init; } = "small";
    /// <summary>The resolved U-Net architecture.</summary>
    public UNetConfig Model { get; init; } = UNetConfig.Preset("small");
    /// <summary>Noise schedule family.</summary>
    public NoiseScheduleKind Schedule { get; init; } = NoiseScheduleKind.Cosine;
    /// <summary>Diffusion steps T.</summary>
    public int Timesteps { get; init; } = 1000;
    /// <summary>beta_1 at T = 1000 (linear / quadratic schedules).</summary>
    public double BetaStart { get; init; } = NoiseSchedule.DefaultBetaStart;
    /// <summary>beta_T at T = 1000 (linear / quadratic schedules).</summary>
    public double BetaEnd { get; init; } = NoiseSchedule.DefaultBetaEnd;
    /// <summary>Offset s of the cosine schedule.</summary>
    public double CosineS { get; init; } = NoiseSchedule.DefaultCosineS;
    /// <summary>What the network predicts (and the MSE target).</summary>
    public PredictionType Prediction { get; init; } = PredictionType.Epsilon;
    /// <summary>
    /// Min-SNR-gamma loss weighting (Hang et al. 2023, eq. 7): each timestep's MSE weighted so that the implied
    /// x0 loss has weight min(SNR_t, gamma). 0 (the default, not written to the JSON so that earlier configs stay as
    /// they were) is the plain, uniform MSE; the paper's gamma is 5.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public double MinSnrGamma { get; init; }
    /// <summary>A distillation run's teacher and objective (issue 18); null (not written) for ordinary training.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DistillConfig? Distill { get; init; }
    /// <summary>Passes over the training set.</summary>
    public int Epochs { get; init; } = 10;
    /// <summary>Images per optimizer step.</summary>
    public int BatchSize { get; init; } = 128;
    /// <summary>Peak learning rate (after warmup).</summary>
    public double Lr { get; init; } = 1e-3;
    /// <summary>Learning rate at the end of the cosine decay.</summary>
    public double MinLr { get; init; }
    /// <summary>AdamW decoupled weight decay.</summary>
    public double WeightDecay { get; init; }
    /// <summary>Steps of linear warmup from 0 to <see cref="Lr"/>.</summary>
    public int WarmupSteps { get; init; } = 200;
    /// <summary>Maximum global gradient L2 norm (0 disables clipping).</summary>
    public double GradClip { get; init; } = 1.0;
    /// <summary>EMA decay of the weights used for sampling and export.</summary>
    public double EmaDecay { get; init; } = 0.999;
    /// <summary>Warm the EMA up: decay = min(ema_decay, (1 + step) / (10 + step)).</summary>
    public bool EmaWarmup { get; init; } = true;
    /// <summary>Probability that a label is replaced by the null class (classifier-free guidance).</summary>
    public double LabelDropout { get; init; } = ForwardProcess.DefaultNullLabelRate;
    /// <summary>Seed of weights, noise, timesteps, label dropout, dropout and data order.</summary>
    public long Seed { get; init; }
    /// <summary>Intra-op threads (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Device to train on.</summary>
    public DeviceKind Device { get; init; } = DeviceKind.Auto;
    /// <summary>Write a sample grid every N epochs (and at the end; 0 = only at the end).</summary>
    public int SampleEvery { get; init; } = 1;
    /// <summary>Write <c>epoch-XXXX.ckpt</c> every N epochs (<c>last.ckpt</c> is always written; 0 = only at the end).</summary>
    public int CheckpointEvery { get; init; } = 1;
    /// <summary>Use only the first N training images (0 = all), for quick runs and tests.</summary>
    public int MaxTrainImages { get; init; }
    /// <summary>DDIM steps for the sample grids.</summary>
    public int SampleSteps { get; init; } = 20;
    /// <summary>Guidance scale of the sample grids (diffusers convention, 1 = conditional).</summary>
    public double SampleGuidance { get; init; } = 3.0;
    /// <summary>Columns of the sample grid (images per class).</summary>
    public int SamplesPerClass { get; init; } = 8;

    /// <summary>Output folder: <see cref="OutDir"/> or <c>runs/&lt;name&gt;</c>.</summary>
    [JsonIgnore] public string RunDir => string.IsNullOrWhiteSpace(OutDir) ? RunFolder.Named(Name).Dir : OutDir!;

    /// <summary>The noise schedule this config trains with.</summary>
    public NoiseSchedule CreateSchedule() => ScheduleSpec.Create();

    /// <summary>The config's schedule as the record that checkpoints and model metadata share.</summary>
    [JsonIgnore]
    public ScheduleSpec ScheduleSpec => new(Schedule, Timesteps, BetaStart, BetaEnd, CosineS);

    /// <summary>JSON options: snake_case keys, enum names in lower case, unknown keys rejected, indented output.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = CreateJsonOptions();

    private static JsonSerializerOptions CreateJsonOptions()
    {
        var o = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            WriteIndented = true,
            ReadCommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        };
        o.Converters.Add(new NameConverter<NoiseScheduleKind>(NoiseSchedule.ParseKind, NoiseSchedule.Name));
        o.Converters.Add(new NameConverter<PredictionType>(Runtime.Prediction.Parse, Runtime.Prediction.Name));
        o.Converters.Add(new NameConverter<DistillStage>(DistillConfig.ParseStage, DistillConfig.StageName));
        o.Converters.Add(new NameConverter<DeviceKind>(ParseDevice, d => d.ToString().ToLowerInvariant()));
        o.Converters.Add(new NameConverter<Imaging.ResizeMode>(Imaging.ImageFolderDataset.ParseResize, Imaging.ImageFolderDataset.ResizeName));
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }

    /// <summary>Parses "auto", "cpu" or "cuda".</summary>
    /// <exception cref="InvalidInputException">Any other value.</exception>
    public static DeviceKind ParseDevice(string value) => value?.Trim().ToLowerInvariant() switch
    {
        "auto" => DeviceKind.Auto,
        "cpu" => DeviceKind.Cpu,
        "cuda" => DeviceKind.Cuda,
        _ => throw new InvalidInputException($"Unknown device '{value}'; expected auto, cpu or cuda."),
    };

    /// <summary>Reads a config file; the model is resolved from <c>preset</c> plus the <c>model</c> overrides.</summary>
    /// <exception cref="InvalidInputException">Missing file, bad JSON, unknown key or value; the message names the file.</exception>
    public static TrainConfig Load(string path)
    {
        InputFile.Require(path, "Config file");
        return ParseValid(File.ReadAllText(path), path);
    }

    /// <summary><see cref="Parse"/>, then <see cref="Validate"/>, with every message naming <paramref name="source"/>: a config file (or a checkpoint's config) must be valid by itself.</summary>
    /// <exception cref="InvalidInputException">Bad JSON, unknown key or value, or an invalid value; the message names the source.</exception>
    public static TrainConfig ParseValid(string json, string source)
    {
        var config = Parse(json, source);
        try { return config.Validate(); }
        catch (InvalidInputException e) { throw Named(e, source); }
    }

    private static InvalidInputException Named(InvalidInputException e, string source)
        => e.Message.Contains(source, StringComparison.Ordinal) ? e
            : new InvalidInputException($"Config {source}: {(e.Message.StartsWith("Config ", StringComparison.Ordinal) ? e.Message["Config ".Length..] : e.Message)}", e);

    /// <summary>Parses config JSON; <paramref name="source"/> names it in messages.</summary>
    /// <exception cref="InvalidInputException">Bad JSON, unknown key, unknown enum value or preset.</exception>
    public static TrainConfig Parse(string json, string source)
    {
        try
        {
            var root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new InvalidInputException($"Config {source}: expected a JSON object.");
            var modelNode = root["model"];
            root.Remove("model");
            if (modelNode is not null and not JsonObject) throw new InvalidInputException($"Config {source}: 'model' must be an object of U-Net fields.");
            var config = root.Deserialize<TrainConfig>(JsonOptions) ?? throw new InvalidInputException($"Config {source}: empty.");
            return config with { Model = ResolveModel(config.Preset, (JsonObject?)modelNode, config.ClassNames.Count, source) };
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"Config {source}: {e.Message}", e);
        }
        catch (ArgumentException e) when (e.Message.StartsWith("An item with the same key", StringComparison.Ordinal))
        {
            // JsonObject refuses a key given twice
            throw new InvalidInputException($"Config {source}: a key is given twice ({e.Message.Split(" (Parameter", 2)[0]}).", e);
        }
        catch (InvalidInputException e) { throw Named(e, source); } // an enum value the runtime's parser refused
    }

    /// <summary>The preset's fields (if any) overlaid with the explicit <c>model</c> fields; num_classes defaults to the class count.</summary>
    private static UNetConfig ResolveModel(string? preset, JsonObject? overrides, int classCount, string source)
    {
        if (preset is null && overrides is null) throw new InvalidInputException($"Config {source}: give a 'preset' (small, medium, large) or a 'model' object.");
        UNetConfig? fromPreset;
        try { fromPreset = preset is null ? null : UNetConfig.Preset(preset); }
        catch (InvalidInputException e) { throw Named(e, source); }
        var merged = fromPreset is null ? new JsonObject() : (JsonObject)JsonSerializer.SerializeToNode(fromPreset, JsonOptions)!;
        foreach (var (key, value) in overrides ?? [])
            merged[key] = value?.DeepClone();
        if (overrides?.ContainsKey("num_classes") != true) merged["num_classes"] = classCount;
        try { return merged.Deserialize<UNetConfig>(JsonOptions)!; }
        catch (JsonException e) { throw new InvalidInputException($"Config {source}: model: {e.Message}", e); }
    }

    /// <summary>Checks every value; call before writing anything.</summary>
    /// <exception cref="InvalidInputException">The first invalid value, named by its key.</exception>
    public TrainConfig Validate()
    {
        static InvalidInputException Bad(string key, object value, string expected)
            => new($"Config {key} = {Convert.ToString(value, CultureInfo.InvariantCulture)}; expected {expected}.");
        if (string.IsNullOrWhiteSpace(Name) || Name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0) throw Bad("name", Name, "a non-empty file-name-safe run name");
        if (string.IsNullOrWhiteSpace(Dataset)) throw Bad("dataset", Dataset, "a dataset name");
        if (string.IsNullOrWhiteSpace(Data)) throw Bad("data", Data, "a folder of IDX files");
        if (ClassNames.Count < 1 || ClassNames.Any(string.IsNullOrWhiteSpace)) throw Bad("class_names", string.Join(",", ClassNames), "one or more non-empty names");
        if (Preset is not null) UNetConfig.Preset(Preset);
        Model.Validate();
        if (Model.NumClasses != ClassNames.Count) throw Bad("model.num_classes", Model.NumClasses, $"the number of class_names ({ClassNames.Count})");
        if (Timesteps < 2) throw Bad("timesteps", Timesteps, "T >= 2");
        CreateSchedule();
        if (Epochs < 1) throw Bad("epochs", Epochs, "an integer >= 1");
        if (!(MinSnrGamma >= 0) || !double.IsFinite(MinSnrGamma)) throw Bad("min_snr_gamma", MinSnrGamma, "a finite number >= 0 (0 = uniform weighting)");
        if (BatchSize < 1) throw Bad("batch_size", BatchSize, "an integer >= 1");
        if (!(Lr > 0) || !double.IsFinite(Lr)) throw Bad("lr", Lr, "a finite number > 0");
        if (!(MinLr >= 0) || MinLr > Lr) throw Bad("min_lr", MinLr, $"0 <= min_lr <= lr ({Lr})");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay)) throw Bad("weight_decay", WeightDecay, "a finite number >= 0");
        if (WarmupSteps < 0) throw Bad("warmup_steps", WarmupSteps, "an integer >= 0");
        if (!(GradClip >= 0) || !double.IsFinite(GradClip)) throw Bad("grad_clip", GradClip, "a finite number >= 0 (0 disables clipping)");
        if (!(EmaDecay >= 0 && EmaDecay < 1)) throw Bad("ema_decay", EmaDecay, "0 <= ema_decay < 1");
        if (!(LabelDropout >= 0 && LabelDropout < 1)) throw Bad("label_dropout", LabelDropout, "0 <= label_dropout < 1");
        if (Threads < 0) throw Bad("threads", Threads, "an integer >= 0 (0 = all cores)");
        if (SampleEvery < 0) throw Bad("sample_every", SampleEvery, "an integer >= 0");
        if (CheckpointEvery < 0) throw Bad("checkpoint_every", CheckpointEvery, "an integer >= 0");
        if (MaxTrainImages < 0) throw Bad("max_train_images", MaxTrainImages, "an integer >= 0 (0 = all)");
        if (SampleSteps < 1 || SampleSteps > Timesteps) throw Bad("sample_steps", SampleSteps, $"1 to T ({Timesteps})");
        if (!(SampleGuidance >= 0) || !double.IsFinite(SampleGuidance)) throw Bad("sample_guidance", SampleGuidance, "a finite number >= 0");
        if (SamplesPerClass < 1 || SamplesPerClass > 64) throw Bad("samples_per_class", SamplesPerClass, "1 to 64");
        if (Distill is { } d)
        {
            if (!Model.GuidanceEmbedding) throw Bad("model.guidance_embedding", false, "true in a distillation run (the student takes the guidance scale)");
            if (string.IsNullOrWhiteSpace(d.Teacher)) throw Bad("distill.teacher", "(empty)", "the teacher's checkpoint file");
            if (!(d.MinScale >= 0) || !(d.MaxScale >= d.MinScale) || !double.IsFinite(d.MaxScale)) throw Bad("distill.max_scale", d.MaxScale, $"a finite number >= distill.min_scale ({d.MinScale}) >= 0");
            if (d.Stage == DistillStage.Halving && (d.StudentSteps < 1 || 2 * d.StudentSteps > Timesteps)) throw Bad("distill.student_steps", d.StudentSteps, $"1 to T / 2 ({Timesteps / 2}) in a halving stage");
            if (d.Stage == DistillStage.Guidance && d.StudentSteps != 0) throw Bad("distill.student_steps", d.StudentSteps, "0 in the guidance stage (its student is not tied to a step count)");
        }
        else if (Model.GuidanceEmbedding) throw Bad("model.guidance_embedding", true, "false outside a distillation run (make distill trains students)");
        return this;
    }

    /// <summary>The resolved config as indented JSON (snake_case; the model fully expanded).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Lower-case hex SHA-256 of UTF-8 <paramref name="configJson"/> (the exporter writes it in metadata).</summary>
    public static string Sha256(string configJson) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(configJson)));

    /// <summary>Short architecture description for metadata: the preset name plus any overridden fields, e.g. "small (dropout=0)", or the key fields of a fully explicit model.</summary>
    public string Architecture()
    {
        var model = (JsonObject)JsonSerializer.SerializeToNode(Model, JsonOptions)!;
        if (Preset is null)
            return $"custom(base_channels={Model.BaseChannels}, channel_mults=[{string.Join(",", Model.ChannelMults)}], blocks_per_level={Model.BlocksPerLevel}, attention_resolutions=[{string.Join(",", Model.AttentionResolutions)}])";
        var preset = (JsonObject)JsonSerializer.SerializeToNode(UNetConfig.Preset(Preset) with { NumClasses = Model.NumClasses }, JsonOptions)!;
        var changed = model.Where(kv => !JsonNode.DeepEquals(kv.Value, preset[kv.Key])).Select(kv => $"{kv.Key}={kv.Value?.ToJsonString()}").ToArray();
        return changed.Length == 0 ? Preset : $"{Preset} ({string.Join(", ", changed)})";
    }

    /// <summary>
    /// Model metadata for an exported graph of a model trained with this config.
    /// </summary>
    /// <param name="graph">Which graph is being written.</param>
    /// <param name="ema">True when the exported weights are the EMA weights.</param>
    /// <param name="configSha256">SHA-256 of the saved config JSON (<see cref="Sha256"/>).</param>
    /// <param name="sourceCommit">Commit the model was trained from.</param>
    public ModelMetadata ToMetadata(GraphKind graph, bool ema, string configSha256, string sourceCommit)
    {
        return new ModelMetadata
        {
            Graph = graph,
            Dataset = Dataset,
            ClassNames = ClassNames.ToArray(),
            Channels = Model.InChannels,
            Height = Model.ImageSize,
            Width = Model.ImageSize,
            NumClasses = Model.NumClasses,
            Prediction = Prediction,
            Ema = ema,
            ConfigSha256 = configSha256,
            SourceCommit = sourceCommit,
            Architecture = Architecture(),
        }.WithSchedule(ScheduleSpec);
    }

    /// <summary>Reads and writes an enum as the lower-case name used in configs, parsing with the runtime's parser.</summary>
    private sealed class NameConverter<T>(Func<string, T> parse, Func<T, string> name) : JsonConverter<T> where T : struct, Enum
    {
        public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType != JsonTokenType.String) throw new JsonException($"expected a string for {typeof(T).Name}.");
            return parse(reader.GetString()!);
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(name(value));
    }
}

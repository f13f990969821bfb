using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Diffusion.Eval.Evaluation;
using Diffusion.Runtime;
using Diffusion.Train.Config;

namespace Diffusion.Experiments.Matrix;

/// <summary>How every run is evaluated (the <c>evaluation</c> object of the matrix file).</summary>
public sealed record EvaluationSettings
{
    /// <summary>Images per class of the metric set (judge accuracy, Frechet distance, diversity).</summary>
    public int PerClass { get; init; } = 50;
    /// <summary>Sampling steps of the metric set and the sample grids (default: the eval default).</summary>
    public int Steps { get; init; } = EvalDefaults.Steps;
    /// <summary>Guidance scale of the metric set (default: the eval default).</summary>
    public float Guidance { get; init; } = EvalDefaults.GuidanceScale;
    /// <summary>Noise seed of the metric set and the sample grids (the same for every run).</summary>
    public ulong Seed { get; init; } = EvalDefaults.Seed;
    /// <summary>Digits (classes) of the comparison grids.</summary>
    public int[] Digits { get; init; } = [0, 4, 7];
    /// <summary>Guidance scales of the comparison grids (diffusers convention, 1 = conditional).</summary>
    public float[] GuidanceScales { get; init; } = [1, 2, 4, 6];
    /// <summary>Images per (digit, scale) cell of the comparison grids.</summary>
    public int ImagesPerCell { get; init; } = 4;
    /// <summary>Frames of the baseline's reverse-process visuals (trajectory grid, GIF, forward against reverse).</summary>
    public int TrajectoryFrames { get; init; } = 10;
    /// <summary>Images per model call.</summary>
    public int Batch { get; init; } = 64;

    /// <summary>The sampling setting of the metric set: the eval default sampler with these steps and guidance.</summary>
    public SamplingSetting Setting => new(EvalDefaults.Sampler, Steps, Guidance);
}

/// <summary>One run of the study: a full training config plus how it differs from the baseline.</summary>
/// <param name="Name">Run name (file-name safe; the baseline's is the baseline config's <c>name</c>).</param>
/// <param name="Factor">The factor the run varies (findings group by it); "baseline" for the baseline.</param>
/// <param name="Change">What differs from the baseline, e.g. "preset = small" ("" for the baseline).</param>
/// <param name="Config">The resolved, validated training config (epochs as in the matrix, before any budget).</param>
/// <param name="Epochs">Training length asked for, in epochs: <c>Config.Epochs</c> times <c>epochs_scale</c> (may be fractional).</param>
public sealed record RunSpec(string Name, string Factor, string Change, TrainConfig Config, double Epochs)
{
    /// <summary>True for the baseline run.</summary>
    public bool IsBaseline => Factor == ExperimentMatrix.BaselineFactor;
}

/// <summary>
/// The experiment matrix (<c>configs/experiments.json</c>): a <c>baseline</c> training config (the keys of
/// <c>configs/*.json</c>), <c>variations</c> that each override part of it (<c>config</c>, merged key by key, objects
/// recursively) and/or scale its epochs (<c>epochs_scale</c>), and the <c>evaluation</c> settings. Unknown keys and bad
/// values throw <see cref="InvalidInputException"/> naming the file, the run and the key.
/// </summary>
public sealed class ExperimentMatrix
{
    /// <summary>Default matrix file.</summary>
    public const string DefaultPath = "configs/experiments.json";
    /// <summary>Factor name of the baseline run.</summary>
    public const string BaselineFactor = "baseline";

    private static readonly string[] TopKeys = ["description", "baseline", "variations", "evaluation"];
    private static readonly string[] VariationKeys = ["name", "factor", "epochs_scale", "config"];
    // set by the study for every run, so neither the baseline nor a variation may set them
    private static readonly string[] StudyOwnedKeys = ["out_dir"];

    private ExperimentMatrix(string source, string sha256, string? description, IReadOnlyList<RunSpec> runs, EvaluationSettings evaluation)
    {
        Source = source; Sha256 = sha256; Description = description; Runs = runs; Evaluation = evaluation;
    }

    /// <summary>The file the matrix was read from.</summary>
    public string Source { get; }
    /// <summary>SHA-256 of the file's text (a resumed study must use the same matrix).</summary>
    public string Sha256 { get; }
    /// <summary>The matrix's own description, if any.</summary>
    public string? Description { get; }
    /// <summary>Every run, the baseline first, then the variations in file order.</summary>
    public IReadOnlyList<RunSpec> Runs { get; }
    /// <summary>The baseline run.</summary>
    public RunSpec Baseline => Runs[0];
    /// <summary>Evaluation settings.</summary>
    public EvaluationSettings Evaluation { get; }

    /// <summary>Reads and validates a matrix file.</summary>
    /// <exception cref="InvalidInputException">Missing file, bad JSON, unknown key or bad value; the message names the file.</exception>
    public static ExperimentMatrix Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"Experiment matrix not found: {path} (the default is {DefaultPath}).");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates matrix JSON; <paramref name="source"/> names it in messages.</summary>
    /// <exception cref="InvalidInputException">Bad JSON, unknown key or bad value.</exception>
    public static ExperimentMatrix Parse(string json, string source)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new InvalidInputException($"Experiment matrix {source}: expected a JSON object with 'baseline' and 'variations'.");
        }
        catch (JsonException e) { throw new InvalidInputException($"Experiment matrix {source}: not valid JSON ({e.Message}).", e); }
        CheckKeys(root, TopKeys, source, "");
        string? description = root["description"] is JsonValue d && d.TryGetValue(out string? text) ? text : null;

        if (root["baseline"] is not JsonObject baseNode) throw new InvalidInputException($"Experiment matrix {source}: 'baseline' must be an object of training config keys (as in configs/mnist.json).");
        CheckStudyOwned(baseNode, source, "baseline");
        var baseline = ParseConfig(baseNode, source, "baseline", null);
        var runs = new List<RunSpec> { new(baseline.Name, BaselineFactor, "", baseline, baseline.Epochs) };

        if (root["variations"] is not JsonArray variations) throw new InvalidInputException($"Experiment matrix {source}: 'variations' must be an array of objects with 'name' and 'config' and/or 'epochs_scale'.");
        for (int i = 0; i < variations.Count; i++)
        {
            string where = $"variations[{i}]";
            if (variations[i] is not JsonObject v) throw new InvalidInputException($"Experiment matrix {source}: {where} must be an object.");
            CheckKeys(v, VariationKeys, source, where + ".");
            string name = String(v, "name", source, where) ?? throw new InvalidInputException($"Experiment matrix {source}: {where} has no 'name'.");
            where = $"variation '{name}'";
            if (runs.Any(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase)))
                throw new InvalidInputException($"Experiment matrix {source}: run name '{name}' is used twice; every run needs its own name.");
            var overrides = v["config"] switch
            {
                null => new JsonObject(),
                JsonObject o => o,
                _ => throw new InvalidInputException($"Experiment matrix {source}: {where}: 'config' must be an object of training config keys."),
            };
            CheckStudyOwned(overrides, source, where);
            if (overrides.ContainsKey("name")) throw new InvalidInputException($"Experiment matrix {source}: {where}: config.name is not allowed; the variation's 'name' names the run.");
            double scale = 1;
            if (v["epochs_scale"] is { } s)
            {
                if (overrides.ContainsKey("epochs")) throw new InvalidInputException($"Experiment matrix {source}: {where}: give config.epochs or epochs_scale, not both.");
                scale = s is JsonValue sv && sv.TryGetValue(out double x) ? x : double.NaN;
                if (!(scale > 0) || !double.IsFinite(scale)) throw new InvalidInputException($"Experiment matrix {source}: {where}: epochs_scale = {s.ToJsonString()}; expected a number > 0.");
            }
            if (overrides.Count == 0 && scale == 1) throw new InvalidInputException($"Experiment matrix {source}: {where} changes nothing; give 'config' overrides or an 'epochs_scale' other than 1.");
            var merged = Merge(baseNode, overrides);
            merged["name"] = name;
            var config = ParseConfig(merged, source, where, name);
            string factor = String(v, "factor", source, where) ?? name;
            if (factor == BaselineFactor) throw new InvalidInputException($"Experiment matrix {source}: {where}: factor '{BaselineFactor}' is reserved for the baseline.");
            runs.Add(new RunSpec(name, factor, Describe(overrides, scale), config, config.Epochs * scale));
        }

        var evaluation = ParseEvaluation(root["evaluation"], source, runs);
        string sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));
        return new ExperimentMatrix(source, sha, description, runs, evaluation);
    }

    /// <summary>
    /// The runs to do: every run, or the baseline plus the named ones (the baseline is always included: every
    /// finding is a difference from it).
    /// </summary>
    /// <exception cref="InvalidInputException">A name that is not a run of the matrix.</exception>
    public IReadOnlyList<RunSpec> Select(IReadOnlyCollection<string>? only)
    {
        if (only is null || only.Count == 0) return Runs;
        foreach (var n in only)
            if (!Runs.Any(r => r.Name == n))
                throw new InvalidInputException($"--only: '{n}' is not a run of {Source}; its runs are {string.Join(", ", Runs.Select(r => r.Name))}.");
        return Runs.Where(r => r.IsBaseline || only.Contains(r.Name)).ToArray();
    }

    private static TrainConfig ParseConfig(JsonObject node, string source, string where, string? name)
    {
        string label = $"{source} ({where})";
        try
        {
            var config = TrainConfig.Parse(node.ToJsonString(), label);
            if (name is not null) config = config with { Name = name };
            return config.Validate();
        }
        catch (InvalidInputException e) when (!e.Message.Contains(source, StringComparison.Ordinal))
        {
            throw new InvalidInputException($"Experiment matrix {label}: {e.Message}", e);
        }
    }

    private static EvaluationSettings ParseEvaluation(JsonNode? node, string source, IReadOnlyList<RunSpec> runs)
    {
        if (node is null) return Validate(new EvaluationSettings(), source, runs);
        if (node is not JsonObject) throw new InvalidInputException($"Experiment matrix {source}: 'evaluation' must be an object.");
        try { return Validate(node.Deserialize<EvaluationSettings>(TrainConfig.JsonOptions)!, source, runs); }
        catch (JsonException e) { throw new InvalidInputException($"Experiment matrix {source}: evaluation: {e.Message}", e); }
    }

    private static EvaluationSettings Validate(EvaluationSettings e, string source, IReadOnlyList<RunSpec> runs)
    {
        InvalidInputException Bad(string key, object value, string expected)
            => new($"Experiment matrix {source}: evaluation.{key} = {Convert.ToString(value, CultureInfo.InvariantCulture)}; expected {expected}.");
        int classes = runs.Min(r => r.Config.ClassNames.Count), minT = runs.Min(r => r.Config.Timesteps);
        if (runs.Select(r => r.Config.Dataset).Distinct().Count() > 1)
            throw new InvalidInputException($"Experiment matrix {source}: runs use different datasets ({string.Join(", ", runs.Select(r => r.Config.Dataset).Distinct())}); one study judges one dataset.");
        if (e.PerClass < 1) throw Bad("per_class", e.PerClass, "an integer >= 1");
        if (e.Steps < 1 || e.Steps > minT) throw Bad("steps", e.Steps, $"1 to the smallest T of the runs ({minT})");
        try { Guidance.Validate(e.Guidance); foreach (var s in e.GuidanceScales) Guidance.Validate(s); }
        catch (InvalidInputException x) { throw new InvalidInputException($"Experiment matrix {source}: evaluation: {x.Message}", x); }
        if (e.Digits.Length == 0 || e.Digits.Any(d => d < 0 || d >= classes) || e.Digits.Distinct().Count() != e.Digits.Length)
            throw Bad("digits", $"[{string.Join(", ", e.Digits)}]", $"distinct classes 0 to {classes - 1}");
        if (e.GuidanceScales.Length == 0) throw Bad("guidance_scales", "[]", "one or more scales");
        if (e.ImagesPerCell < 1 || e.ImagesPerCell > 16) throw Bad("images_per_cell", e.ImagesPerCell, "1 to 16");
        if (e.TrajectoryFrames < 2 || e.TrajectoryFrames > 100) throw Bad("trajectory_frames", e.TrajectoryFrames, "2 to 100");
        if (e.Batch < 1) throw Bad("batch", e.Batch, "an integer >= 1");
        return e;
    }

    private static void CheckKeys(JsonObject node, string[] allowed, string source, string prefix)
    {
        foreach (var (key, _) in node)
            if (!allowed.Contains(key))
                throw new InvalidInputException($"Experiment matrix {source}: unknown key '{prefix}{key}'; expected {string.Join(", ", allowed)}.");
    }

    private static void CheckStudyOwned(JsonObject node, string source, string where)
    {
        foreach (var key in StudyOwnedKeys)
            if (node.ContainsKey(key))
                throw new InvalidInputException($"Experiment matrix {source}: {where}: '{key}' is not allowed; the study puts every run under its --out folder.");
    }

    private static string? String(JsonObject node, string key, string source, string where)
    {
        if (node[key] is null) return null;
        if (node[key] is JsonValue v && v.TryGetValue(out string? s) && !string.IsNullOrWhiteSpace(s))
        {
            if (key == "name" && s.IndexOfAny([.. Path.GetInvalidFileNameChars(), ' ']) >= 0)
                throw new InvalidInputException($"Experiment matrix {source}: {where}: name '{s}' must be file-name safe (no spaces or slashes).");
            return s;
        }
        throw new InvalidInputException($"Experiment matrix {source}: {where}: '{key}' must be a non-empty string.");
    }

    /// <summary>A copy of <paramref name="baseline"/> with <paramref name="overrides"/> laid over it (objects merged key by key).</summary>
    internal static JsonObject Merge(JsonObject baseline, JsonObject overrides)
    {
        var merged = (JsonObject)baseline.DeepClone();
        foreach (var (key, value) in overrides)
            merged[key] = merged[key] is JsonObject b && value is JsonObject o ? Merge(b, o) : value?.DeepClone();
        return merged;
    }

    /// <summary>"preset = small", "epochs x0.5", "model.dropout = 0.1, lr = 0.0005".</summary>
    private static string Describe(JsonObject overrides, double scale)
    {
        IEnumerable<string> Flatten(JsonObject o, string prefix) => o.SelectMany(kv => kv.Value is JsonObject inner
            ? Flatten(inner, prefix + kv.Key + ".")
            : [$"{prefix}{kv.Key} = {(kv.Value is JsonValue v && v.TryGetValue(out string? s) ? s : kv.Value?.ToJsonString() ?? "null")}"]);
        var parts = Flatten(overrides, "").ToList();
        if (scale != 1) parts.Insert(0, string.Create(CultureInfo.InvariantCulture, $"epochs x{scale:0.###}"));
        return string.Join(", ", parts);
    }
}

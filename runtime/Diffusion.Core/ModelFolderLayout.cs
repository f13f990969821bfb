namespace Diffusion.Runtime;

/// <summary>
/// The files of an exported model folder (<c>models/&lt;name&gt;/</c>): the one owner of their names. Export writes
/// them, the runtime reads the graphs, eval writes and reads the judges, the benchmarks time the graphs; every stage
/// takes the names from here.
/// </summary>
public static class ModelFolderLayout
{
    /// <summary>The plain U-Net graph (inputs x, t, y): serves guidance scale 1 in one pass.</summary>
    public const string Unet = "unet.onnx";
    /// <summary>The guided graph (inputs x, t, y, scale): conditional and unconditional rows and the guidance in one call.</summary>
    public const string Guided = "unet-guided.onnx";
    /// <summary>The int8 form of <see cref="Unet"/>.</summary>
    public const string UnetInt8 = "unet-int8.onnx";
    /// <summary>The int8 form of <see cref="Guided"/>.</summary>
    public const string GuidedInt8 = "unet-guided-int8.onnx";
    /// <summary>The model card a person reads.</summary>
    public const string CardMarkdown = "model-card.md";
    /// <summary>The model card's facts (config, parameters, FLOPs, file hashes, int8 parity) for tools.</summary>
    public const string CardJson = "model-card.json";
    /// <summary>The judge classifier exported to ONNX (<c>export-classifier</c>).</summary>
    public const string JudgeOnnx = "judge.onnx";
    /// <summary>The judges' card: which files, their hashes and test-set numbers (<c>eval judges</c>).</summary>
    public const string JudgeCard = "judge.json";
    /// <summary>The judges' card for a person.</summary>
    public const string JudgeCardMarkdown = "judge-card.md";
    /// <summary>The ML.NET model wrapping <see cref="JudgeOnnx"/>.</summary>
    public const string JudgeMlNet = "judge.mlnet.zip";
    /// <summary>The second judge: LightGBM on pixels.</summary>
    public const string JudgeLightGbm = "judge-lightgbm.zip";

    /// <summary>
    /// What <c>export</c> writes (and so replaces) in a model folder: the four graphs and the card. Every other file
    /// (the judges, a user's notes) is kept when a folder is exported again.
    /// </summary>
    public static IReadOnlyList<string> ExportFiles { get; } = [Unet, Guided, UnetInt8, GuidedInt8, CardJson, CardMarkdown];

    /// <summary>Each float32 graph with its int8 form.</summary>
    public static IReadOnlyList<(string Float32, string Int8)> Int8Pairs { get; } = [(Unet, UnetInt8), (Guided, GuidedInt8)];

    /// <summary>The file of a graph kind at a precision.</summary>
    public static string GraphFile(GraphKind kind, bool int8) => (kind, int8) switch
    {
        (GraphKind.Unet, false) => Unet,
        (GraphKind.Unet, true) => UnetInt8,
        (GraphKind.Guided, false) => Guided,
        (GraphKind.Guided, true) => GuidedInt8,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>
    /// The graph of the guidance-distilled student of <paramref name="steps"/> steps (inputs x, t, y, scale; one pass
    /// per step): <c>unet-student-N.onnx</c>, or <c>unet-student-N-int8.onnx</c>. A folder may hold several (make distill
    /// makes one per step count); <c>export</c> adds them beside the teacher's graphs.
    /// </summary>
    public static string StudentFile(int steps, bool int8) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{StudentPrefix}{steps}{(int8 ? "-int8" : "")}.onnx");

    /// <summary>The step counts of the student graphs in <paramref name="folder"/> at a precision, ascending.</summary>
    public static IReadOnlyList<int> StudentSteps(string folder, bool int8)
    {
        if (!Directory.Exists(folder)) return [];
        var steps = new List<int>();
        foreach (var f in Directory.EnumerateFiles(folder, StudentPrefix + "*.onnx"))
        {
            string core = Path.GetFileName(f)[StudentPrefix.Length..^".onnx".Length];
            if (int8 != core.EndsWith("-int8", StringComparison.Ordinal)) continue;
            if (int8) core = core[..^"-int8".Length];
            if (int.TryParse(core, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n > 0 && StudentFile(n, int8) == Path.GetFileName(f))
                steps.Add(n);
        }
        steps.Sort();
        return steps;
    }

    /// <summary>Each float32 student graph of <paramref name="folder"/> with its int8 form's name (present or not), by step count.</summary>
    public static IReadOnlyList<(string Float32, string Int8)> StudentPairs(string folder)
        => StudentSteps(folder, int8: false).Select(n => (StudentFile(n, false), StudentFile(n, true))).ToList();

    private const string StudentPrefix = "unet-student-";

    /// <summary>Keys of the graphs' manifest in <see cref="CardJson"/>: <c>onnx.files.&lt;file&gt;.sha256</c> (export writes it, the runtime checks it).</summary>
    public const string CardOnnxKey = "onnx", CardFilesKey = "files", CardSha256Key = "sha256";

    /// <summary>
    /// The float32 graphs' SHA-256 as the folder's <see cref="CardJson"/> lists them (lower-case hex, by file name), or
    /// an empty map when the folder has no readable card: the manifest of an export, for graphs that do not name their
    /// checkpoint.
    /// </summary>
    public static IReadOnlyDictionary<string, string> CardGraphHashes(string folder)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        string path = Path.Combine(folder, CardJson);
        if (!File.Exists(path)) return result;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && doc.RootElement.TryGetProperty(CardOnnxKey, out var onnx) && onnx.ValueKind == System.Text.Json.JsonValueKind.Object
                && onnx.TryGetProperty(CardFilesKey, out var files) && files.ValueKind == System.Text.Json.JsonValueKind.Object)
                foreach (var f in files.EnumerateObject())
                    if (f.Value.ValueKind == System.Text.Json.JsonValueKind.Object && f.Value.TryGetProperty(CardSha256Key, out var sha) && sha.ValueKind == System.Text.Json.JsonValueKind.String)
                        result[f.Name] = sha.GetString()!;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException) { result.Clear(); }
        return result;
    }

    /// <summary>The default folder of a dataset's release model: <c>models/&lt;dataset&gt;</c>.</summary>
    public static string DefaultFolder(string dataset) => Path.Combine("models", dataset);
}

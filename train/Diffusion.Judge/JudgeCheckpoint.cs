using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Judge;

/// <summary>What a judge checkpoint records besides the weights (saved as JSON in its header).</summary>
public sealed record JudgeInfo
{
    /// <summary>Architecture.</summary>
    public JudgeConfig Config { get; init; } = new();
    /// <summary>Dataset name ("mnist" or "fashion-mnist").</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Class names, index = label.</summary>
    public string[] ClassNames { get; init; } = [];
    /// <summary>Training settings used.</summary>
    public JudgeTrainOptions Training { get; init; } = new();
    /// <summary>Test-set accuracy measured by TorchSharp right after training (0-1).</summary>
    public double TestAccuracy { get; init; }
    /// <summary>Test-set accuracy per class (0-1), index = label.</summary>
    public double[] TestAccuracyPerClass { get; init; } = [];
    /// <summary>Number of test images.</summary>
    public int TestCount { get; init; }
    /// <summary>Wall time of training (seconds), evaluation excluded.</summary>
    public double TrainSeconds { get; init; }
    /// <summary>Threads used by TorchSharp.</summary>
    public int Threads { get; init; }
    /// <summary>Trainable parameters.</summary>
    public long Parameters { get; init; }
    /// <summary>Git commit of the source that trained it ("unknown" outside git).</summary>
    public string SourceCommit { get; init; } = "unknown";
    /// <summary>Command line that reproduces it.</summary>
    public string Command { get; init; } = "";
    /// <summary>Machine description (OS, cores).</summary>
    public string Hardware { get; init; } = "";

    /// <summary>JSON options shared by the checkpoint header and the model card (snake_case, indented).</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };
}

/// <summary>
/// A trained judge on disk: a magic string, the <see cref="JudgeInfo"/> JSON, then the TorchSharp weights
/// (<c>Module.save</c>, state_dict names). Written atomically.
/// </summary>
public sealed class JudgeCheckpoint : IDisposable
{
    private const string Magic = "DIFFUSION-JUDGE-CKPT";
    private const int Version = 1;

    /// <summary>The network, in eval mode.</summary>
    public JudgeCnn Model { get; }
    /// <summary>Everything recorded with the weights.</summary>
    public JudgeInfo Info { get; }

    private JudgeCheckpoint(JudgeCnn model, JudgeInfo info) { Model = model; Info = info; }

    /// <summary>Writes <paramref name="model"/> and <paramref name="info"/> to <paramref name="path"/> atomically.</summary>
    public static void Save(string path, JudgeCnn model, JudgeInfo info)
    {
        AtomicFile.Write(path, s =>
        {
            using var w = new BinaryWriter(s, Encoding.UTF8, leaveOpen: true);
            w.Write(Magic);
            w.Write(Version);
            w.Write(JsonSerializer.Serialize(info, JudgeInfo.Json));
            model.save(w);
            w.Flush();
        });
    }

    /// <summary>Loads a checkpoint written by <see cref="Save"/>; the model is returned in eval mode.</summary>
    /// <exception cref="InvalidInputException">Missing, corrupt or foreign file; the message names it.</exception>
    public static JudgeCheckpoint Load(string path)
    {
        InputFile.Require(path, "Judge checkpoint", "run 'make train-classifier'");
        using var fs = File.OpenRead(path);
        using var r = new BinaryReader(fs, Encoding.UTF8);
        JudgeInfo info;
        try
        {
            string magic = r.ReadString();
            if (magic != Magic) throw new InvalidInputException($"{path} is not a judge checkpoint (header '{Trim(magic)}', expected '{Magic}').");
            int version = r.ReadInt32();
            if (version != Version) throw new InvalidInputException($"{path}: judge checkpoint version {version}; this build reads version {Version}.");
            info = JsonSerializer.Deserialize<JudgeInfo>(r.ReadString(), JudgeInfo.Json)
                ?? throw new InvalidInputException($"{path}: empty judge header.");
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or JsonException or FormatException)
        {
            throw new InvalidInputException($"{path} is not a judge checkpoint or is truncated ({e.Message}).", e);
        }
        var model = new JudgeCnn(info.Config);
        try
        {
            model.load(r, strict: true);
        }
        catch (Exception e) when (e is not InvalidInputException)
        {
            model.Dispose();
            throw new InvalidInputException($"{path}: judge weights are corrupt or do not match the architecture in its header ({e.Message}).", e);
        }
        model.eval();
        return new JudgeCheckpoint(model, info);
    }

    private static string Trim(string s) => s.Length > 40 ? s[..40] + "..." : s;

    /// <inheritdoc/>
    public void Dispose() => Model.Dispose();
}

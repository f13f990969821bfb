using System.Security.Cryptography;
using Diffusion.Eval.Metrics;
using Diffusion.Runtime;
using Diffusion.Tools;

namespace Diffusion.Eval.Judges;

/// <summary>A judge file and its SHA-256.</summary>
/// <param name="File">File name, relative to the card's folder.</param>
/// <param name="Sha256">Lower-case hex SHA-256 of its bytes.</param>
/// <param name="Bytes">Size in bytes.</param>
public sealed record JudgeFile(string File, string Sha256, long Bytes)
{
    /// <summary>Describes <paramref name="path"/> (name relative to <paramref name="folder"/>).</summary>
    public static JudgeFile Of(string path, string folder)
        => new(Path.GetRelativePath(folder, path), Hash(path), new FileInfo(path).Length);

    /// <summary>SHA-256 of a file, lower-case hex.</summary>
    public static string Hash(string path)
    {
        using var fs = System.IO.File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}

/// <summary>
/// The judges' card (<c>judge.json</c>, beside the judge files): which dataset they judge, their files and hashes,
/// and their test-set numbers as measured by <c>eval judges</c>. Eval refuses judge files whose hash differs
/// from the card (a stale or foreign judge).
/// </summary>
public sealed record JudgeCard
{
    /// <summary>Dataset ("mnist", "fashion-mnist").</summary>
    public string Dataset { get; init; } = "";
    /// <summary>Class names, index = label.</summary>
    public string[] ClassNames { get; init; } = [];
    /// <summary>Image shape [C, H, W].</summary>
    public int[] ImageShape { get; init; } = [1, 28, 28];
    /// <summary>Feature width F of the CNN.</summary>
    public int FeatureDim { get; init; }
    /// <summary>The CNN as exported ONNX.</summary>
    public JudgeFile? Onnx { get; init; }
    /// <summary>The CNN inside an ML.NET pipeline (main judge).</summary>
    public JudgeFile? MlNet { get; init; }
    /// <summary>The LightGBM judge.</summary>
    public JudgeFile? LightGbm { get; init; }
    /// <summary>CNN architecture from the ONNX metadata.</summary>
    public string CnnArchitecture { get; init; } = "";
    /// <summary>CNN test accuracy measured by TorchSharp right after training.</summary>
    public double CnnTorchSharpTestAccuracy { get; init; }
    /// <summary>Wall time of the CNN's training, seconds (from its ONNX metadata).</summary>
    public double CnnTrainSeconds { get; init; }
    /// <summary>Machine the CNN was trained on (from its ONNX metadata).</summary>
    public string CnnTrainHardware { get; init; } = "";
    /// <summary>CNN test metrics measured through the reloaded ML.NET zip.</summary>
    public ClassificationMetrics? CnnTest { get; init; }
    /// <summary>Seconds the ML.NET CNN took to score the test set.</summary>
    public double CnnScoreSeconds { get; init; }
    /// <summary>LightGBM settings.</summary>
    public LightGbmOptions? LightGbmOptions { get; init; }
    /// <summary>LightGBM test metrics measured through the reloaded zip.</summary>
    public ClassificationMetrics? LightGbmTest { get; init; }
    /// <summary>Seconds LightGBM took to train.</summary>
    public double LightGbmTrainSeconds { get; init; }
    /// <summary>Training images used for LightGBM.</summary>
    public int LightGbmTrainCount { get; init; }
    /// <summary>Command that trained the CNN (from its ONNX metadata).</summary>
    public string CnnTrainCommand { get; init; } = "";
    /// <summary>Command that exported the CNN (from its ONNX metadata).</summary>
    public string CnnExportCommand { get; init; } = "";
    /// <summary>Command that built the judges and this card.</summary>
    public string Command { get; init; } = "";
    /// <summary>Source commit of the CNN's training code.</summary>
    public string CnnSourceCommit { get; init; } = "";
    /// <summary>Machine the numbers were measured on.</summary>
    public string Hardware { get; init; } = "";
    /// <summary>When the card was written (UTC, ISO 8601).</summary>
    public string CreatedUtc { get; init; } = "";

    /// <summary>Number of classes.</summary>
    public int NumClasses => ClassNames.Length;

    /// <summary>Reads a card.</summary>
    /// <exception cref="InvalidInputException">Missing or malformed.</exception>
    public static JudgeCard Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"Judge card not found: {path} (build the judges with 'make judges').");
        var card = Json.Read<JudgeCard>(path);
        // a JSON null leaves a non-nullable member null: each is named like any other bad value
        if (card.ClassNames is null || card.ImageShape is null || card.ClassNames.Any(n => n is null) || card.Dataset is null)
            throw new InvalidInputException($"{path}: judge card has a null dataset, class_names, class name or image_shape; rebuild with 'make judges'.");
        if (card.ClassNames.Length < 2 || card.ImageShape.Length != 3 || card.ImageShape.Any(d => d < 1) || card.FeatureDim < 1)
            throw new InvalidInputException($"{path}: judge card has {card.ClassNames.Length} classes, image shape [{string.Join(",", card.ImageShape)}] and feature width {card.FeatureDim}; expected >= 2 classes, [C,H,W] with positive sizes and a positive width.");
        foreach (var f in new[] { card.Onnx, card.MlNet, card.LightGbm })
            if (f is not null && (f.Sha256 is null || f.Sha256.Length != 64 || !f.Sha256.All(char.IsAsciiHexDigit)))
                throw new InvalidInputException($"{path}: judge card gives '{f.File}' the SHA-256 '{f.Sha256}'; expected 64 hex digits.");
        return card;
    }

    /// <summary>Writes the card atomically.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, Json.Serialize(this) + "\n");

    /// <summary>The path of a file the card names: a plain name inside <paramref name="folder"/>.</summary>
    /// <exception cref="InvalidInputException">No name, or one that leaves the folder.</exception>
    public static string Resolve(JudgeFile entry, string folder, string cardPath)
    {
        string? name = entry.File;
        if (string.IsNullOrWhiteSpace(name) || name != Path.GetFileName(name) || name is "." or ".." || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
            throw new InvalidInputException($"{cardPath} names the judge file '{name}'; expected a file name inside {folder}; rebuild with 'make judges'.");
        return Path.Combine(folder, name);
    }

    /// <summary>Checks that <paramref name="path"/> is the file the card describes.</summary>
    /// <exception cref="InvalidInputException">No entry in the card, or the hash differs.</exception>
    public static void Verify(JudgeFile? entry, string path, string cardPath)
    {
        if (entry is null) throw new InvalidInputException($"{cardPath} does not describe {path}; rebuild the judges with 'make judges'.");
        string hash = JudgeFile.Hash(path);
        if (!string.Equals(hash, entry.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidInputException($"{path} has SHA-256 {hash[..12]}..., but {cardPath} expects {entry.Sha256[..Math.Min(12, entry.Sha256.Length)]}...: a stale or foreign judge; rebuild with 'make judges'.");
    }
}

using Diffusion.Runtime;
namespace Diffusion.Tools;

/// <summary>
/// A generated block inside a hand-readable text file (a model card), between a begin and an end marker line, so a
/// tool can replace its own block without touching the rest: the eval's Quality section, the exporter's int8 section.
/// </summary>
public static class MarkedSection
{
    /// <summary>
    /// Writes <paramref name="body"/> between <paramref name="begin"/> and <paramref name="end"/> in the file
    /// <paramref name="path"/> (atomically): replaces an existing block, else appends one.
    /// </summary>
    /// <exception cref="InvalidInputException">The file does not exist, or has a begin marker without an end.</exception>
    public static void Update(string path, string begin, string end, string body)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: not found; export the model first (make export).");
        AtomicFile.WriteAllText(path, Replace(File.ReadAllText(path), begin, end, body, path));
    }

    /// <summary>The text with the block between the markers set to <paramref name="body"/> (appended when absent).</summary>
    /// <exception cref="InvalidInputException">A begin marker without an end.</exception>
    public static string Replace(string text, string begin, string end, string body, string source = "text")
    {
        ArgumentNullException.ThrowIfNull(text);
        string block = $"{begin}\n{body}{end}\n";
        int b = text.IndexOf(begin, StringComparison.Ordinal);
        if (b < 0) return text.TrimEnd('\n') + "\n\n" + block;
        int e = text.IndexOf(end, b, StringComparison.Ordinal);
        if (e < 0) throw new InvalidInputException($"{source}: has '{begin}' but no '{end}'; remove the partial section.");
        int after = e + end.Length;
        if (after < text.Length && text[after] == '\n') after++;
        return string.Concat(text.AsSpan(0, b), block, text.AsSpan(after));
    }

    /// <summary>Removes the block between the markers from the file <paramref name="path"/> (atomically), if it has one.</summary>
    /// <returns>False when the file or the block is absent.</returns>
    /// <exception cref="InvalidInputException">A begin marker without an end.</exception>
    public static bool Remove(string path, string begin, string end)
    {
        if (!File.Exists(path)) return false;
        string text = File.ReadAllText(path);
        int b = text.IndexOf(begin, StringComparison.Ordinal);
        if (b < 0) return false;
        int e = text.IndexOf(end, b, StringComparison.Ordinal);
        if (e < 0) throw new InvalidInputException($"{path}: has '{begin}' but no '{end}'; remove the partial section.");
        int after = e + end.Length;
        if (after < text.Length && text[after] == '\n') after++;
        AtomicFile.WriteAllText(path, string.Concat(text.AsSpan(0, b).TrimEnd('\n'), "\n", text.AsSpan(after)));
        return true;
    }
}

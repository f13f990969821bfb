namespace Diffusion.Tools;

/// <summary>
/// Marks a folder of outputs that a command writes one file after another (generate's images, eval's report): while
/// <see cref="FileName"/> is in the folder the set is incomplete (Ctrl+C, a full disk or a failed write part-way),
/// though each file in it is whole (<see cref="AtomicFile"/>). Written before the first output, removed by
/// <see cref="Complete"/> after the last; a command that stops in between leaves it, saying what was asked.
/// </summary>
public sealed class IncompleteMarker
{
    /// <summary>The marker's name in the output folder.</summary>
    public const string FileName = "INCOMPLETE.txt";

    private IncompleteMarker(string path) => Path = path;

    /// <summary>The marker file.</summary>
    public string Path { get; }

    /// <summary>Writes the marker into <paramref name="folder"/> (created).</summary>
    /// <param name="folder">The output folder.</param>
    /// <param name="command">The command, e.g. "generate".</param>
    /// <param name="what">One line on what was asked (model, settings), to tell the stopped run apart.</param>
    public static IncompleteMarker Begin(string folder, string command, string what)
    {
        string path = System.IO.Path.Combine(folder, FileName);
        AtomicFile.WriteAllText(path,
            $"{command} had not finished writing the outputs of this folder (interrupted, or a write failed): each file here is whole, but the set is not.\n" +
            $"{what}\nRun the command again; this file is removed when every output is written.\n");
        return new IncompleteMarker(path);
    }

    /// <summary>Every output is written: removes the marker.</summary>
    public void Complete() => File.Delete(Path);
}

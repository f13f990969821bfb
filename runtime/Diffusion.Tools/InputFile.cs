using Diffusion.Runtime;

namespace Diffusion.Tools;

/// <summary>The one check every command makes on a file the user names: it exists and is a file.</summary>
public static class InputFile
{
    /// <summary>Returns <paramref name="path"/> when it is an existing file.</summary>
    /// <param name="path">The path the user gave.</param>
    /// <param name="what">What it should be, capitalised, e.g. "Checkpoint" or "Config file".</param>
    /// <param name="hint">What to do about a missing file, e.g. "run 'make train-classifier'", or null.</param>
    /// <exception cref="InvalidInputException">A folder, or nothing, at <paramref name="path"/>; one line naming it.</exception>
    public static string Require(string path, string what, string? hint = null)
    {
        if (Directory.Exists(path)) throw new InvalidInputException($"{what} {path} is a folder; expected a file.");
        if (!File.Exists(path)) throw new InvalidInputException($"{what} not found: {path}{(hint is null ? "." : $" ({hint}).")}");
        return path;
    }
}

using Diffusion.Runtime;

namespace Diffusion.Tools;

/// <summary>
/// Checks, before a command starts its work, that the output it was given can be written: minutes of training or
/// generation must not end in "not a folder" or "permission denied". Nothing is created: the nearest existing folder
/// on the path gets a probe file that is deleted at once.
/// </summary>
public static class OutputPath
{
    /// <summary>Checks that <paramref name="folder"/> is, or can become, a writable folder.</summary>
    /// <param name="folder">The output folder.</param>
    /// <param name="option">The option that named it, e.g. "--out", for the message.</param>
    /// <exception cref="InvalidInputException">A file is in the way, or the place is not writable; one line naming it.</exception>
    public static void CheckFolder(string folder, string option)
    {
        if (File.Exists(folder)) throw new InvalidInputException($"{option} {folder} is a file; expected a folder.");
        CheckWritable(folder, option);
    }

    /// <summary>Checks that the file <paramref name="file"/> can be written (created or replaced).</summary>
    /// <exception cref="InvalidInputException">A folder is in the way, or the place is not writable; one line naming it.</exception>
    public static void CheckFile(string file, string option)
    {
        if (Directory.Exists(file)) throw new InvalidInputException($"{option} {file} is a folder; expected a file.");
        CheckWritable(Path.GetDirectoryName(Path.GetFullPath(file))!, option);
    }

    private static void CheckWritable(string folder, string option)
    {
        string full = Path.GetFullPath(folder);
        string existing = full;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing)) throw new InvalidInputException($"{option} {folder}: {existing} is a file, so no folder can be made under it.");
            existing = Path.GetDirectoryName(existing) ?? throw new InvalidInputException($"{option} {folder}: no existing folder on the path.");
        }
        string probe = Path.Combine(existing, $".write-probe.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try { File.WriteAllBytes(probe, []); File.Delete(probe); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{option} {folder}: cannot write in {existing} ({e.Message.Trim()}).", e);
        }
    }
}
